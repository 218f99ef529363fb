//! The two release binaries, built the way `sam build` builds them, and run behind
//! cargo-lambda's Lambda emulator (`cargo lambda watch --only-lambda-apis`): the emulator
//! serves the Invoke API and the Runtime API, each bootstrap is started by us with the
//! Runtime API of its function, as Lambda starts it.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::paths::{self, Missing};

/// The two functions: binary name (= emulator function name) and crate directory.
pub const FUNCTIONS: [(&str, &str); 2] = [
    ("check-catalog-status", "crates/check-catalog-status"),
    ("update-catalog-db", "crates/update-catalog-db"),
];

/// Why the binaries could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    #[error(transparent)]
    Missing(#[from] Missing),
    #[error("could not run {what}: {source}")]
    Spawn { what: String, source: std::io::Error },
    #[error("`{command}` failed ({status}); see its output above")]
    BuildFailed { command: String, status: String },
    #[error("{0} was not produced by the build")]
    NoBootstrap(PathBuf),
    #[error("the emulator did not listen on {0} within {1:?}; its log: {2}")]
    EmulatorNotUp(SocketAddr, Duration, String),
    #[error("could not find a free port: {0}")]
    Port(std::io::Error),
}

/// Release bootstraps, one per function name.
#[derive(Debug, Clone)]
pub struct Bootstraps {
    pub paths: BTreeMap<String, PathBuf>,
    /// How long the build commands took (near zero when nothing changed).
    pub build_time: Duration,
}

/// Builds both functions with `cargo lambda build --release --bin <name>` run in the
/// crate's directory: the command `sam build` runs for an x86_64 function, so the two
/// share one set of artifacts (target/lambda/<name>/bootstrap).
pub fn build_release() -> Result<Bootstraps, LambdaError> {
    let root = paths::repo_root();
    let started = Instant::now();
    let mut built = BTreeMap::new();
    for (name, dir) in FUNCTIONS {
        run_cargo_lambda(&["lambda", "build", "--release", "--bin", name], dir)?;
        let bootstrap = root.join("target").join("lambda").join(name).join("bootstrap");
        if !bootstrap.is_file() {
            return Err(LambdaError::NoBootstrap(bootstrap));
        }
        built.insert(name.to_owned(), bootstrap);
    }
    Ok(Bootstraps {
        paths: built,
        build_time: started.elapsed(),
    })
}

/// Runs `cargo-lambda <args>` (e.g. `lambda build --release --bin <name>`) in `dir`,
/// relative to the repository root, with the tools in `.tools/` on PATH.
pub fn run_cargo_lambda(args: &[&str], dir: &str) -> Result<(), LambdaError> {
    let status = Command::new(paths::venv_tool("cargo-lambda")?)
        .args(args)
        .current_dir(paths::repo_root().join(dir))
        .env("PATH", paths::tool_path_env())
        .status()
        .map_err(|source| LambdaError::Spawn {
            what: "cargo lambda build".to_owned(),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(LambdaError::BuildFailed {
            command: format!("cargo {} (in {dir})", args.join(" ")),
            status: status.to_string(),
        })
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> Result<u16, LambdaError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(LambdaError::Port)?;
    Ok(listener.local_addr().map_err(LambdaError::Port)?.port())
}

/// A running emulator and the bootstraps started against it; all are killed on drop.
#[derive(Debug)]
pub struct Emulator {
    address: SocketAddr,
    watch: Child,
    functions: Vec<(String, Child)>,
    logs: tempfile::TempDir,
}

impl Emulator {
    /// Starts `cargo lambda watch --only-lambda-apis` on a free loopback port and waits
    /// until it accepts connections.
    pub fn start() -> Result<Emulator, LambdaError> {
        let cargo_lambda = paths::venv_tool("cargo-lambda")?;
        let logs = tempfile::tempdir().map_err(|source| LambdaError::Spawn {
            what: "a log directory".to_owned(),
            source,
        })?;
        let port = free_port()?;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let log = log_file(logs.path(), "emulator")?;
        let watch = Command::new(cargo_lambda)
            .args(["lambda", "watch", "--only-lambda-apis", "--invoke-address"])
            .arg(Ipv4Addr::LOCALHOST.to_string())
            .args(["--invoke-port", &port.to_string()])
            // It reads the workspace's binaries to know which function names exist.
            .current_dir(paths::repo_root())
            .env("PATH", paths::tool_path_env())
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|source| LambdaError::Spawn {
                what: "the emulator log".to_owned(),
                source,
            })?)
            .stderr(log)
            .spawn()
            .map_err(|source| LambdaError::Spawn {
                what: "cargo lambda watch".to_owned(),
                source,
            })?;
        let mut emulator = Emulator {
            address,
            watch,
            functions: Vec::new(),
            logs,
        };
        let limit = Duration::from_secs(60);
        let deadline = Instant::now() + limit;
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline || matches!(emulator.watch.try_wait(), Ok(Some(_))) {
                return Err(LambdaError::EmulatorNotUp(address, limit, emulator.log("emulator")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(emulator)
    }

    /// The base URL of the Invoke API (`POST {url}/2015-03-31/functions/{name}/invocations`).
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Starts a copy of `bootstrap` as function `name` with `env` (plus the variables
    /// Lambda sets). Returns the process id, e.g. to read its peak memory.
    pub fn start_function(&mut self, name: &str, bootstrap: &Path, env: &[(&str, String)]) -> Result<u32, LambdaError> {
        let log = log_file(self.logs.path(), name)?;
        // Run a copy: a running executable cannot be replaced ("text file busy"), so
        // running target/lambda/<name>/bootstrap itself would make the next build fail.
        let copy = self.logs.path().join(format!("{name}-bootstrap"));
        std::fs::copy(bootstrap, &copy).map_err(|source| LambdaError::Spawn {
            what: format!("a copy of {}", bootstrap.display()),
            source,
        })?;
        let mut command = Command::new(&copy);
        command
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("AWS_LAMBDA_RUNTIME_API", format!("http://{}/.rt/{name}", self.address))
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_REGION", "us-east-1");
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|source| LambdaError::Spawn {
                what: format!("the log of {name}"),
                source,
            })?)
            .stderr(log)
            .spawn()
            .map_err(|source| LambdaError::Spawn {
                what: bootstrap.display().to_string(),
                source,
            })?;
        let pid = child.id();
        self.functions.push((name.to_owned(), child));
        Ok(pid)
    }

    /// What a process (`emulator` or a function name) has printed so far.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Whether every function process is still running.
    pub fn functions_alive(&mut self) -> Vec<(String, bool)> {
        self.functions
            .iter_mut()
            .map(|(name, child)| (name.clone(), matches!(child.try_wait(), Ok(None))))
            .collect()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        for (_, child) in &mut self.functions {
            drop(child.kill());
            drop(child.wait());
        }
        drop(self.watch.kill());
        drop(self.watch.wait());
    }
}

fn log_file(dir: &Path, name: &str) -> Result<File, LambdaError> {
    File::create(dir.join(format!("{name}.log"))).map_err(|source| LambdaError::Spawn {
        what: format!("the log file of {name}"),
        source,
    })
}

/// Peak resident memory of a running process (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}
