//! Mesh networking for offloaded pods.
//!
//! In full-mesh mode the Virtual Kubelet puts a shell script in the pod annotation
//! `slurm-job.vk.io/pre-exec`; inside it a heredoc writes `mesh.sh` (the WireGuard setup, private key
//! included). This module extracts that script and adds what runs it on the remote cluster: a
//! `mesh-setup` container (native sidecar or regular container), the `interlink-scratch` emptyDir, the
//! privileges WireGuard needs and an optional startup probe on the ready file. The script reaches the
//! container through a per-pod Secret mounted read-only (the caller creates it from
//! [`MeshOutcome::Injected`]); the annotation is removed from the remote pod whether or not the mesh
//! could be set up, so the private key is in neither the remote pod's annotations nor its container
//! arguments, which anyone allowed to read pods can see.
//!
//! It owns only the pod-spec transformation; deciding when to call it and logging the outcome is the
//! offload service's job. The script embeds a private key: nothing here logs or formats it into errors.

use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, ExecAction, Pod, Probe,
    SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};

/// Pod annotation in which the Virtual Kubelet passes the pre-exec script.
pub const PRE_EXEC_ANNOTATION: &str = "slurm-job.vk.io/pre-exec";
/// Line that opens the heredoc carrying `mesh.sh` inside the pre-exec script.
pub(super) const MESH_HEREDOC_OPENER: &str = "cat <<'EOFMESH' > $TMPDIR/mesh.sh";
/// Name of the injected container.
pub(super) const MESH_CONTAINER_NAME: &str = "mesh-setup";
/// Name of the injected scratch volume.
const SCRATCH_VOLUME_NAME: &str = "interlink-scratch";
/// Where the scratch volume is mounted; the Kubernetes mesh script relies on this path.
pub const SCRATCH_DIR: &str = "/tmp/interlink";
/// Name of the injected volume holding the script's Secret (also the unscoped name of that Secret).
pub(super) const SCRIPT_VOLUME_NAME: &str = "interlink-mesh";
/// Where the script's Secret is mounted (read-only) in the mesh-setup container.
pub const SCRIPT_DIR: &str = "/etc/interlink-mesh";
/// Key of the script in its Secret.
pub const SCRIPT_KEY: &str = "mesh.sh";
/// File the mesh script creates once the mesh is up; the startup probe waits for it.
const READY_FILE: &str = "/tmp/interlink/mesh-ready";
/// Image of the mesh-setup container (the original's choice; see the README for pinning advice).
const MESH_IMAGE: &str = "alpine:latest";

const HEREDOC_MARKER: &str = "<<'EOFMESH'";
const HEREDOC_TERMINATOR: &str = "EOFMESH";

/// How the mesh-setup container is added (config section `[mesh]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeshOptions {
    /// Add the container as a native sidecar init container (`restartPolicy: Always`) instead of a
    /// regular container.
    pub init_container: bool,
    /// Add a startup probe that waits for [`READY_FILE`].
    pub startup_probe: bool,
    /// Use the wrapper for the Virtual Kubelet's default (SLURM) mesh template instead of the
    /// Kubernetes-adapted script.
    pub slurm_setup_script: bool,
}

impl Default for MeshOptions {
    fn default() -> Self {
        Self {
            init_container: true,
            startup_probe: true,
            slurm_setup_script: false,
        }
    }
}

/// Why a pre-exec annotation yields no mesh script.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeshScriptError {
    /// The annotation has no `cat <<'EOFMESH' > $TMPDIR/mesh.sh` line: not a mesh script.
    #[error("annotation {PRE_EXEC_ANNOTATION} has no `{MESH_HEREDOC_OPENER}` heredoc")]
    NoMeshHeredoc,
    /// The heredoc is opened but no line `EOFMESH` closes it.
    #[error("annotation {PRE_EXEC_ANNOTATION}: the mesh.sh heredoc has no closing `EOFMESH` line")]
    Unterminated,
    /// The heredoc holds no script.
    #[error("annotation {PRE_EXEC_ANNOTATION}: the mesh.sh heredoc is empty")]
    Empty,
    /// The pod has no spec to add the mesh-setup container to.
    #[error("the pod has no spec; the mesh setup cannot be added")]
    NoSpec,
    /// The pod already has a container or volume with a name the mesh needs.
    #[error("pod already has a {what} named {name}; the mesh setup cannot be added")]
    NameTaken {
        /// "container" or "volume".
        what: &'static str,
        /// The conflicting name.
        name: &'static str,
    },
}

/// The `mesh.sh` text from the annotation. It embeds a WireGuard private key, so `Debug` shows only
/// its length.
#[derive(Clone, PartialEq, Eq)]
pub struct MeshScript(String);

impl MeshScript {
    /// The script text (for the Secret that carries it; never for logs).
    pub(super) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for MeshScript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MeshScript(<{} bytes, not shown>)", self.0.len())
    }
}

/// What [`inject`] did to a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeshOutcome {
    /// The pod has no pre-exec annotation: left unchanged.
    NotRequested,
    /// The mesh-setup container and its volumes were added and the annotation removed; the caller must
    /// create the Secret named in [`inject`]'s call with the script under [`SCRIPT_KEY`].
    Injected(MeshScript),
    /// The annotation is there but unusable: it was removed, the pod is otherwise unchanged (the caller
    /// logs a warning).
    Skipped(MeshScriptError),
}

/// Extracts the body of the `mesh.sh` heredoc from a pre-exec script.
///
/// The body starts after the line holding the first `<<'EOFMESH'` and ends before the first
/// following line that is exactly `EOFMESH` (the shell's rule for an unquoted-dash heredoc).
fn extract_mesh_script(pre_exec: &str) -> Result<&str, MeshScriptError> {
    if !pre_exec.contains(MESH_HEREDOC_OPENER) {
        return Err(MeshScriptError::NoMeshHeredoc);
    }
    let marker = pre_exec
        .find(HEREDOC_MARKER)
        .ok_or(MeshScriptError::NoMeshHeredoc)?;
    let body_start = match pre_exec[marker..].find('\n') {
        Some(offset) => marker + offset + 1,
        None => return Err(MeshScriptError::Unterminated),
    };
    let body = &pre_exec[body_start..];
    let mut line_start = 0;
    for line in body.split_inclusive('\n') {
        if line.trim_end_matches(['\n', '\r']) == HEREDOC_TERMINATOR {
            let script = body[..line_start]
                .strip_suffix('\n')
                .unwrap_or(&body[..line_start]);
            if script.trim().is_empty() {
                return Err(MeshScriptError::Empty);
            }
            return Ok(script);
        }
        line_start += line.len();
    }
    Err(MeshScriptError::Unterminated)
}

/// Adds the mesh setup to `pod` when its pre-exec annotation carries a mesh script; the script is read
/// from the Secret `secret_name`, which the caller creates from the returned script.
///
/// The annotation is taken off the pod whatever the outcome: it embeds the WireGuard private key, and a
/// pod whose mesh cannot be set up must not carry that key to the remote cluster either.
pub fn inject(pod: &mut Pod, options: &MeshOptions, secret_name: &str) -> MeshOutcome {
    let Some(pre_exec) = pod
        .metadata
        .annotations
        .as_mut()
        .and_then(|annotations| annotations.remove(PRE_EXEC_ANNOTATION))
    else {
        return MeshOutcome::NotRequested;
    };
    let script = match extract_mesh_script(&pre_exec) {
        Ok(script) => script.to_owned(),
        Err(err) => return MeshOutcome::Skipped(err),
    };
    let Some(spec) = pod.spec.as_mut() else {
        return MeshOutcome::Skipped(MeshScriptError::NoSpec);
    };
    let container_taken = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .any(|c| c.name == MESH_CONTAINER_NAME);
    if container_taken {
        return MeshOutcome::Skipped(MeshScriptError::NameTaken {
            what: "container",
            name: MESH_CONTAINER_NAME,
        });
    }
    for volume in [SCRATCH_VOLUME_NAME, SCRIPT_VOLUME_NAME] {
        if spec.volumes.iter().flatten().any(|v| v.name == volume) {
            return MeshOutcome::Skipped(MeshScriptError::NameTaken {
                what: "volume",
                name: volume,
            });
        }
    }

    let container = mesh_container(options);
    let volumes = spec.volumes.get_or_insert_with(Vec::new);
    volumes.push(Volume {
        name: SCRATCH_VOLUME_NAME.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    });
    volumes.push(Volume {
        name: SCRIPT_VOLUME_NAME.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret_name.to_owned()),
            default_mode: Some(0o400),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    });
    if options.init_container {
        spec.init_containers
            .get_or_insert_with(Vec::new)
            .push(container);
    } else {
        spec.containers.push(container);
    }
    MeshOutcome::Injected(MeshScript(script))
}

/// The `mesh-setup` container running the mounted script through the wrapper chosen by `options`.
fn mesh_container(options: &MeshOptions) -> Container {
    let wrapper = if options.slurm_setup_script {
        slurm_wrapper()
    } else {
        kubernetes_wrapper()
    };
    Container {
        name: MESH_CONTAINER_NAME.to_owned(),
        image: Some(MESH_IMAGE.to_owned()),
        command: Some(vec!["/bin/sh".to_owned(), "-c".to_owned()]),
        args: Some(vec![wrapper]),
        env: Some(vec![EnvVar {
            name: "TMPDIR".to_owned(),
            value: Some(SCRATCH_DIR.to_owned()),
            ..EnvVar::default()
        }]),
        volume_mounts: Some(vec![
            VolumeMount {
                name: SCRATCH_VOLUME_NAME.to_owned(),
                mount_path: SCRATCH_DIR.to_owned(),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: SCRIPT_VOLUME_NAME.to_owned(),
                mount_path: SCRIPT_DIR.to_owned(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
        ]),
        security_context: Some(SecurityContext {
            privileged: Some(true),
            capabilities: Some(Capabilities {
                add: Some(
                    ["SYS_ADMIN", "NET_ADMIN", "SYS_CHROOT"]
                        .map(str::to_owned)
                        .to_vec(),
                ),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        startup_probe: options.startup_probe.then(|| Probe {
            exec: Some(ExecAction {
                command: Some(["test", "-f", READY_FILE].map(str::to_owned).to_vec()),
            }),
            period_seconds: Some(2),
            failure_threshold: Some(60),
            ..Probe::default()
        }),
        restart_policy: options.init_container.then(|| "Always".to_owned()),
        ..Container::default()
    }
}

const APK_PACKAGES: &str = "curl bash procps gcompat libc6-compat iproute2 util-linux shadow";

/// Shell lines shared by both wrappers: install the tools the mesh scripts use and copy `mesh.sh` out
/// of its read-only Secret mount into the scratch directory.
fn install_prelude() -> String {
    format!(
        "set -e\n\
         apk add --no-cache {APK_PACKAGES}\n\
         mkdir -p {SCRATCH_DIR}\n\
         cp {SCRIPT_DIR}/{SCRIPT_KEY} {SCRATCH_DIR}/mesh.sh\n"
    )
}

/// Wrapper for the Kubernetes-adapted mesh script: install tools, copy, run.
///
/// Lines start at column 0 so that the script reads the same whatever shell runs it.
pub fn kubernetes_wrapper() -> String {
    format!(
        "{}chmod 0755 {SCRATCH_DIR}/mesh.sh\n\
         exec bash {SCRATCH_DIR}/mesh.sh\n",
        install_prelude()
    )
}

/// Wrapper for the Virtual Kubelet's default (SLURM) mesh template: patch out what needs SLURM or
/// user namespaces, then run it with a stand-in job that marks the mesh ready.
///
/// The `job-fake.sh` heredoc terminator sits at column 0: the original indented it, so the shell never
/// ended the heredoc and `mesh.sh` never ran.
pub fn slurm_wrapper() -> String {
    format!(
        "{}sed -i \\\n\
         \x20 -e 's/fg 1$/fg %1/' \\\n\
         \x20 -e 's|unshare $UNSHARE_FLAGS --net --mount $TMPDIR/slirp.sh|$TMPDIR/slirp.sh|' \\\n\
         \x20 -e 's|^\\(\\s*\\)\\./slirp4netns|\\1# ./slirp4netns|' \\\n\
         \x20 {SCRATCH_DIR}/mesh.sh\n\
         chmod 0755 {SCRATCH_DIR}/mesh.sh\n\
         cat > {SCRATCH_DIR}/job-fake.sh <<'EOFWRAPPER'\n\
         #!/bin/bash\n\
         echo \"mesh: stand-in job started on $(hostname)\"\n\
         ip -brief address || true\n\
         touch {READY_FILE}\n\
         exec sleep infinity\n\
         EOFWRAPPER\n\
         chmod 0755 {SCRATCH_DIR}/job-fake.sh\n\
         export SLURM_JOB_ID=1 SLURM_PROCID=0 SLURM_TMPDIR=/tmp TMPDIR=/tmp\n\
         cd {SCRATCH_DIR}\n\
         exec bash {SCRATCH_DIR}/mesh.sh {SCRATCH_DIR}/job-fake.sh\n",
        install_prelude()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const SCRIPT: &str = "#!/bin/bash\necho mesh up\nWG_KEY=not-a-real-key\n";
    const SECRET: &str = "p-mesh-secret";

    fn pre_exec(script: &str) -> String {
        format!(
            "mkdir -p $TMPDIR\n{MESH_HEREDOC_OPENER}\n{script}EOFMESH\nchmod +x $TMPDIR/mesh.sh\n"
        )
    }

    fn pod_with_annotation(value: Option<String>) -> Pod {
        let mut pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
            "spec": {
                "initContainers": [{"name": "init", "image": "busybox"}],
                "containers": [{"name": "app", "image": "nginx"}],
                "volumes": [{"name": "data", "emptyDir": {}}]
            }
        }))
        .expect("valid pod");
        if let Some(value) = value {
            pod.metadata.annotations =
                Some(BTreeMap::from([(PRE_EXEC_ANNOTATION.to_owned(), value)]));
        }
        pod
    }

    #[test]
    fn extracts_the_heredoc_body_without_its_final_newline() {
        let annotation = pre_exec(SCRIPT);
        let extracted = extract_mesh_script(&annotation).expect("script");
        assert_eq!(extracted, SCRIPT.strip_suffix('\n').expect("newline"));
    }

    #[test]
    fn terminator_must_start_and_fill_a_line() {
        let text = format!("{MESH_HEREDOC_OPENER}\necho a\n  EOFMESH\necho EOFMESH\nEOFMESHX\n");
        assert_eq!(
            extract_mesh_script(&text),
            Err(MeshScriptError::Unterminated)
        );
        let text = format!("{MESH_HEREDOC_OPENER}\necho a\n  EOFMESH\nEOFMESH\n");
        assert_eq!(extract_mesh_script(&text), Ok("echo a\n  EOFMESH"));
    }

    #[test]
    fn rejects_annotations_without_a_usable_heredoc() {
        assert_eq!(
            extract_mesh_script("echo hello"),
            Err(MeshScriptError::NoMeshHeredoc)
        );
        assert_eq!(
            extract_mesh_script(MESH_HEREDOC_OPENER),
            Err(MeshScriptError::Unterminated)
        );
        assert_eq!(
            extract_mesh_script(&format!("{MESH_HEREDOC_OPENER}\n\nEOFMESH\n")),
            Err(MeshScriptError::Empty)
        );
    }

    #[test]
    fn pod_without_annotation_is_unchanged() {
        let mut pod = pod_with_annotation(None);
        let before = pod.clone();
        assert_eq!(
            inject(&mut pod, &MeshOptions::default(), SECRET),
            MeshOutcome::NotRequested
        );
        assert_eq!(pod, before);
    }

    /// The pod as it must look after a skipped injection: unchanged except that the annotation is gone.
    fn without_annotation(pod: &Pod) -> Pod {
        let mut pod = pod.clone();
        if let Some(annotations) = pod.metadata.annotations.as_mut() {
            annotations.remove(PRE_EXEC_ANNOTATION);
        }
        pod
    }

    #[test]
    fn malformed_heredoc_leaves_pod_unchanged() {
        let mut pod = pod_with_annotation(Some(format!("{MESH_HEREDOC_OPENER}\necho x\n")));
        let before = without_annotation(&pod);
        assert_eq!(
            inject(&mut pod, &MeshOptions::default(), SECRET),
            MeshOutcome::Skipped(MeshScriptError::Unterminated)
        );
        assert_eq!(pod, before);
    }

    #[test]
    fn skipped_mesh_injection_drops_the_pre_exec_annotation() {
        let unterminated = format!("{MESH_HEREDOC_OPENER}\n{SCRIPT}");
        let mut taken_container = pod_with_annotation(Some(pre_exec(SCRIPT)));
        if let Some(spec) = taken_container.spec.as_mut() {
            spec.containers[0].name = MESH_CONTAINER_NAME.to_owned();
        }
        let mut taken_init = pod_with_annotation(Some(pre_exec(SCRIPT)));
        if let Some(spec) = taken_init.spec.as_mut() {
            spec.init_containers.get_or_insert_with(Vec::new)[0].name =
                MESH_CONTAINER_NAME.to_owned();
        }
        let mut no_spec = pod_with_annotation(Some(pre_exec(SCRIPT)));
        no_spec.spec = None;
        for mut pod in [
            pod_with_annotation(Some(unterminated)),
            pod_with_annotation(Some(format!("{MESH_HEREDOC_OPENER}\n\nEOFMESH\n"))),
            pod_with_annotation(Some(
                "echo not a mesh script; WG_KEY=not-a-real-key".to_owned(),
            )),
            taken_container,
            taken_init,
            no_spec,
        ] {
            let outcome = inject(&mut pod, &MeshOptions::default(), SECRET);
            assert!(matches!(outcome, MeshOutcome::Skipped(_)), "{outcome:?}");
            let shown = serde_json::to_string(&pod).expect("json");
            assert!(!shown.contains(PRE_EXEC_ANNOTATION), "{shown}");
            assert!(!shown.contains("not-a-real-key"), "{shown}");
        }
    }

    #[test]
    fn injection_consumes_the_annotation_and_hands_back_the_script() {
        let mut pod = pod_with_annotation(Some(pre_exec(SCRIPT)));
        let MeshOutcome::Injected(script) = inject(&mut pod, &MeshOptions::default(), SECRET)
        else {
            panic!("not injected")
        };
        assert_eq!(script.expose(), SCRIPT.strip_suffix('\n').expect("newline"));
        assert!(!format!("{script:?}").contains("not-a-real-key"));
        let annotations = pod.metadata.annotations.clone().unwrap_or_default();
        assert!(!annotations.contains_key(PRE_EXEC_ANNOTATION));
        let spec = serde_json::to_string(&pod.spec).expect("json");
        assert!(!spec.contains("not-a-real-key"), "{spec}");
        // A second pass finds no annotation: nothing is added twice.
        let once = pod.clone();
        assert_eq!(
            inject(&mut pod, &MeshOptions::default(), SECRET),
            MeshOutcome::NotRequested
        );
        assert_eq!(pod, once);
    }

    #[test]
    fn existing_mesh_names_are_not_reused() {
        let mut pod = pod_with_annotation(Some(pre_exec(SCRIPT)));
        if let Some(spec) = pod.spec.as_mut() {
            spec.volumes.get_or_insert_with(Vec::new).push(Volume {
                name: SCRIPT_VOLUME_NAME.to_owned(),
                ..Volume::default()
            });
        }
        let before = without_annotation(&pod);
        assert_eq!(
            inject(&mut pod, &MeshOptions::default(), SECRET),
            MeshOutcome::Skipped(MeshScriptError::NameTaken {
                what: "volume",
                name: SCRIPT_VOLUME_NAME
            })
        );
        assert_eq!(pod, before);
    }

    #[test]
    fn errors_never_contain_the_script() {
        for err in [
            MeshScriptError::NoMeshHeredoc,
            MeshScriptError::Unterminated,
            MeshScriptError::Empty,
            MeshScriptError::NoSpec,
        ] {
            assert!(!err.to_string().contains("not-a-real-key"));
        }
    }

    /// One snapshot of the remote pod spec per combination of the three `[mesh]` switches.
    #[test]
    fn injected_pod_spec_for_each_option_combination() {
        for init_container in [true, false] {
            for startup_probe in [true, false] {
                for slurm_setup_script in [true, false] {
                    let options = MeshOptions {
                        init_container,
                        startup_probe,
                        slurm_setup_script,
                    };
                    let mut pod = pod_with_annotation(Some(pre_exec(SCRIPT)));
                    assert!(matches!(
                        inject(&mut pod, &options, SECRET),
                        MeshOutcome::Injected(_)
                    ));
                    let name = format!(
                        "mesh_init-{init_container}_probe-{startup_probe}_slurm-{slurm_setup_script}"
                    );
                    insta::assert_yaml_snapshot!(name, pod.spec);
                }
            }
        }
    }
}
