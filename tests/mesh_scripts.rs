//! The shell the mesh-setup container runs: syntax-checked with `sh -n` and `bash -n`, and the parts that
//! can run on this machine executed with stand-ins for `apk` and for the Virtual Kubelet's `mesh.sh`.

use std::fs;
use std::path::Path;
use std::process::Command;

use ikp::plugin::mesh::{SCRATCH_DIR, SCRIPT_DIR, SCRIPT_KEY, kubernetes_wrapper, slurm_wrapper};

fn syntax_check(shell: &str, script: &str) {
    let out = Command::new(shell)
        .args(["-n", "-c", script])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shell}: {e}"));
    assert!(
        out.status.success(),
        "{shell} -n rejects the wrapper: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `wrapper` with `mesh_script` in a stand-in for the Secret mount, the scratch dir moved into
/// `dir` and `apk` replaced by a no-op.
fn run_wrapper(wrapper: &str, mesh_script: &str, dir: &Path) -> std::process::Output {
    let secret = dir.join("secret");
    fs::create_dir_all(&secret).expect("secret dir");
    fs::write(secret.join(SCRIPT_KEY), mesh_script).expect("mesh.sh in the secret mount");
    let scratch = dir.join("scratch");
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).expect("bin dir");
    let apk = bin.join("apk");
    fs::write(
        &apk,
        "#!/bin/sh\necho \"apk $*\" >> \"$(dirname \"$0\")/apk.log\"\n",
    )
    .expect("apk stub");
    Command::new("chmod")
        .arg("+x")
        .arg(&apk)
        .status()
        .expect("chmod");
    let wrapper = wrapper
        .replace(SCRATCH_DIR, scratch.to_str().expect("utf-8 path"))
        .replace(SCRIPT_DIR, secret.to_str().expect("utf-8 path"));
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("/bin/sh")
        .args(["-c", &wrapper])
        .env("PATH", path)
        .env("MESH_TEST_OUT", dir)
        .output()
        .expect("run wrapper")
}

const FAKE_MESH: &str =
    "#!/bin/bash\necho \"ran with: $*\" > \"$MESH_TEST_OUT/mesh-ran\"\nexit 0\n";

#[test]
fn kubernetes_wrapper_parses_in_sh_and_bash() {
    let wrapper = kubernetes_wrapper();
    syntax_check("sh", &wrapper);
    syntax_check("bash", &wrapper);
}

#[test]
fn slurm_wrapper_parses_in_sh_and_bash() {
    let wrapper = slurm_wrapper();
    syntax_check("sh", &wrapper);
    syntax_check("bash", &wrapper);
}

#[test]
fn kubernetes_wrapper_copies_and_runs_the_mesh_script() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_wrapper(&kubernetes_wrapper(), FAKE_MESH, dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let installed = fs::read_to_string(dir.path().join("scratch/mesh.sh")).expect("mesh.sh");
    assert_eq!(installed, FAKE_MESH);
    assert!(dir.path().join("mesh-ran").exists(), "mesh.sh did not run");
    let apk = fs::read_to_string(dir.path().join("bin/apk.log")).expect("apk ran");
    assert!(apk.contains("add --no-cache"), "{apk}");
}

/// The original's wrapper never ended its `job-fake.sh` heredoc, so `mesh.sh` never ran (W-18).
#[test]
fn slurm_wrapper_runs_mesh_with_the_stand_in_job_and_patches_the_template() {
    let template = format!(
        "{FAKE_MESH}\
         fg 1\n\
         unshare $UNSHARE_FLAGS --net --mount $TMPDIR/slirp.sh\n\
         ./slirp4netns --configure tap0\n"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_wrapper(&slurm_wrapper(), &template, dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let ran = fs::read_to_string(dir.path().join("mesh-ran")).expect("mesh.sh ran");
    assert!(ran.trim_end().ends_with("scratch/job-fake.sh"), "{ran}");

    let patched = fs::read_to_string(dir.path().join("scratch/mesh.sh")).expect("mesh.sh");
    assert!(patched.contains("\nfg %1\n"), "{patched}");
    assert!(patched.contains("\n$TMPDIR/slirp.sh\n"), "{patched}");
    assert!(
        patched.contains("\n# ./slirp4netns --configure tap0\n"),
        "{patched}"
    );

    let job = fs::read_to_string(dir.path().join("scratch/job-fake.sh")).expect("job-fake.sh");
    assert!(job.starts_with("#!/bin/bash\n"), "{job}");
    assert!(
        job.ends_with("exec sleep infinity\n"),
        "heredoc ran past its end: {job}"
    );
    assert!(job.contains("mesh-ready"), "{job}");
}
