//! A private test control plane whose kube-apiserver a test may pause (SIGSTOP/SIGCONT), kill (SIGKILL)
//! and start again, for fault tests. Never used on the shared cluster: every [`PrivateCluster`] is its own
//! `tests/cluster/up` (own data dir, ports, etcd), stopped with `tests/cluster/down` when it drops.
//!
//! Restart after a kill: before the kill the apiserver's command line, environment and working directory
//! are read from `/proc/<pid>`; the restart runs the same binary with the same arguments (same port,
//! certificates and etcd, so clients and the other components reconnect unchanged), in its own session,
//! with output appended to `logs/kube-apiserver.log`, and its PID appended to the data dir's `pids` file so
//! that `down` stops it like the original.
//!
//! The fault tests of one binary share the machine's two cores: [`PrivateCluster::up`] hands out one
//! cluster at a time (a process-wide lock held by the returned guard).

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::cluster::KUBECONFIG_ENV;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How the apiserver was started, read from `/proc` so it can be started again.
struct CommandLine {
    argv: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    cwd: PathBuf,
}

/// A test control plane of its own.
pub struct PrivateCluster {
    dir: PathBuf,
    kubeconfig: PathBuf,
    apiserver_pid: Mutex<u32>,
    restarted: Mutex<Vec<Child>>,
    paused: Mutex<bool>,
    killed: Mutex<Option<CommandLine>>,
    _turn: MutexGuard<'static, ()>,
}

impl PrivateCluster {
    /// Starts a private cluster; `None` (test skipped, message printed) when the test cluster is not
    /// configured at all, as for every cluster test (`IKP_TEST_KUBECONFIG` unset outside CI).
    pub fn up() -> Option<PrivateCluster> {
        if std::env::var_os(KUBECONFIG_ENV).is_none_or(|v| v.is_empty()) {
            if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0") {
                panic!("{KUBECONFIG_ENV} is not set; in CI the fault tests must run");
            }
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED (needs the test cluster binaries): {KUBECONFIG_ENV} is not set"
            );
            return None;
        }
        let turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let up = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/up");
        let output = Command::new(&up)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .expect("run tests/cluster/up");
        assert!(
            output.status.success(),
            "tests/cluster/up failed: {}",
            output.status
        );
        let exports = String::from_utf8_lossy(&output.stdout);
        let value = |name: &str| -> PathBuf {
            exports
                .lines()
                .find_map(|line| line.strip_prefix(&format!("export {name}=")))
                .map(|v| PathBuf::from(v.trim_matches('\'')))
                .unwrap_or_else(|| panic!("tests/cluster/up printed no {name}: {exports}"))
        };
        let dir = value("IKP_TEST_CLUSTER_DIR");
        let kubeconfig = value("IKP_TEST_KUBECONFIG");
        let pid = recorded_pid(&dir, "kube-apiserver");
        Some(PrivateCluster {
            dir,
            kubeconfig,
            apiserver_pid: Mutex::new(pid),
            restarted: Mutex::new(Vec::new()),
            paused: Mutex::new(false),
            killed: Mutex::new(None),
            _turn: turn,
        })
    }

    /// The cluster's kubeconfig (admin).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A client for the cluster, with a short read timeout so a test's own check never hangs on a
    /// paused apiserver.
    pub async fn client(&self) -> Client {
        let file = Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig");
        let mut config = Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
            .await
            .expect("kubeconfig loads");
        config.read_timeout = Some(Duration::from_secs(20));
        config.connect_timeout = Some(Duration::from_secs(5));
        Client::try_from(config).expect("client")
    }

    fn pid(&self) -> u32 {
        *self.apiserver_pid.lock().expect("pid lock")
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {} failed", self.pid());
    }

    /// Stops the apiserver process (SIGSTOP): connections stay open, nothing is answered.
    pub fn pause(&self) {
        self.signal("-STOP");
        *self.paused.lock().expect("paused lock") = true;
    }

    /// Lets a paused apiserver run again (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
        *self.paused.lock().expect("paused lock") = false;
    }

    /// Kills the apiserver (SIGKILL) and waits until the process is gone; call [`restart`](Self::restart)
    /// to bring it back.
    pub fn kill(&self) {
        let pid = self.pid();
        let command = read_command_line(pid);
        self.signal("-KILL");
        *self.paused.lock().expect("paused lock") = false;
        let deadline = Instant::now() + Duration::from_secs(10);
        while process_alive(pid) {
            assert!(
                Instant::now() < deadline,
                "apiserver {pid} survived SIGKILL"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Reap it if it happens to be our child (a restarted one); otherwise init does.
        if let Some(child) = self
            .restarted
            .lock()
            .expect("restarted lock")
            .iter_mut()
            .find(|c| c.id() == pid)
        {
            let _ = child.wait();
        }
        *self.killed.lock().expect("killed lock") = Some(command);
    }

    /// Starts the killed apiserver again with its recorded command line and waits for `/readyz`.
    pub async fn restart(&self) {
        let command = self
            .killed
            .lock()
            .expect("killed lock")
            .take()
            .expect("restart only after kill");
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.dir.join("logs/kube-apiserver.log"))
            .expect("apiserver log");
        let mut cmd = Command::new(&command.argv[0]);
        cmd.args(&command.argv[1..])
            .env_clear()
            .envs(command.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&command.cwd)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .process_group(0);
        let child = cmd.spawn().expect("restart kube-apiserver");
        let pid = child.id();
        std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("pids"))
            .and_then(|mut f| writeln!(f, "{pid} kube-apiserver"))
            .expect("record restarted pid");
        *self.apiserver_pid.lock().expect("pid lock") = pid;
        self.restarted.lock().expect("restarted lock").push(child);
        self.wait_ready().await;
    }

    /// Waits until the apiserver answers `/readyz` with `ok`.
    pub async fn wait_ready(&self) {
        let client = self.client().await;
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let request = http::Request::get("/readyz")
                .body(Vec::new())
                .expect("request");
            if let Ok(Ok(text)) =
                tokio::time::timeout(Duration::from_secs(5), client.request_text(request)).await
                && text == "ok"
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "kube-apiserver not ready again after 90 s; see {}/logs",
                self.dir.display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        if *self.paused.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ = Command::new("kill")
                .args(["-CONT", &self.pid().to_string()])
                .status();
        }
        let down = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/down");
        let status = Command::new(down)
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !status.is_ok_and(|s| s.success()) {
            let _ = writeln!(
                std::io::stderr(),
                "could not stop the private cluster {}",
                self.dir.display()
            );
        }
        for child in self
            .restarted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter_mut()
        {
            let _ = child.wait();
        }
    }
}

fn recorded_pid(dir: &Path, name: &str) -> u32 {
    let pids = std::fs::read_to_string(dir.join("pids")).expect("pids file");
    pids.lines()
        .rev()
        .filter_map(|line| line.split_once(' '))
        .filter(|(_, n)| *n == name)
        .find_map(|(pid, _)| pid.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {}/pids", dir.display()))
}

fn process_alive(pid: u32) -> bool {
    // A killed process that is nobody's child lingers as a zombie until init reaps it: that counts as gone.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn read_command_line(pid: u32) -> CommandLine {
    let split = |bytes: Vec<u8>| -> Vec<OsString> {
        bytes
            .split(|b| *b == 0)
            .filter(|part| !part.is_empty())
            .map(|part| OsString::from_vec(part.to_vec()))
            .collect()
    };
    let argv = split(std::fs::read(format!("/proc/{pid}/cmdline")).expect("apiserver cmdline"));
    let env = split(std::fs::read(format!("/proc/{pid}/environ")).expect("apiserver environ"))
        .into_iter()
        .filter_map(|entry| {
            let bytes = entry.into_vec();
            let at = bytes.iter().position(|b| *b == b'=')?;
            Some((
                OsString::from_vec(bytes[..at].to_vec()),
                OsString::from_vec(bytes[at + 1..].to_vec()),
            ))
        })
        .collect();
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).expect("apiserver cwd");
    assert!(!argv.is_empty(), "apiserver {pid} has no command line");
    CommandLine { argv, env, cwd }
}
