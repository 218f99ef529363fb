//! A real PostgreSQL server for tests, and a fresh database for each test.
//!
//! [`TestDatabase::create`] finds a server once per test process:
//!
//! 1. `DATABASE_URL` when set (a superuser URL, e.g. `postgres://postgres@127.0.0.1:5432/postgres`);
//! 2. else `127.0.0.1:5432` when it answers for user `postgres` or `root` without a password;
//! 3. else a throwaway cluster ([`Cluster`]) started with `initdb`/`pg_ctl` in a temp dir
//!    (as a non-root user when the tests run as root), removed when the test process ends;
//!
//! and gives each test its own database `test_<unique>` (dropped when the
//! [`TestDatabase`] is dropped), with a connected [`tokio_postgres::Client`].
//!
//! [`Cluster::start`] starts a throwaway cluster with chosen options (password
//! authentication, TLS with a given certificate) for tests that need one of their own.

use std::fmt;
use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::OnceCell;
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

/// How to get a server when none is found; part of every "no server" panic.
const HOW_TO_GET_ONE: &str = "set DATABASE_URL to a superuser URL (postgres://postgres@127.0.0.1:5432/postgres), \
     start PostgreSQL on 127.0.0.1:5432 with trust auth for user postgres, \
     or install the server binaries (Debian: apt-get install postgresql) so a throwaway cluster can be started";

/// A server the tests may create databases on, as a superuser.
#[derive(Clone)]
struct Server {
    host: String,
    port: u16,
    user: String,
    password: Option<String>,
}

impl Server {
    fn config(&self, dbname: &str) -> Config {
        let mut config = Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(dbname)
            .connect_timeout(Duration::from_secs(5));
        if let Some(password) = &self.password {
            config.password(password.as_str());
        }
        config
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}:{}", self.user, self.host, self.port)
    }
}

/// The server shared by every [`TestDatabase`] of this process, found on first use.
static SHARED: OnceCell<(Server, Option<Cluster>)> = OnceCell::const_new();

async fn shared_server() -> &'static Server {
    let (server, _cluster) = SHARED.get_or_init(find_server).await;
    server
}

async fn find_server() -> (Server, Option<Cluster>) {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        let config: Config = url
            .parse()
            .unwrap_or_else(|e| panic!("DATABASE_URL is not a PostgreSQL URL ({e}); {HOW_TO_GET_ONE}"));
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(host)) => host.clone(),
            Some(Host::Unix(path)) => path.display().to_string(),
            None => "127.0.0.1".to_owned(),
        };
        let server = Server {
            host,
            port: config.get_ports().first().copied().unwrap_or(5432),
            user: config.get_user().unwrap_or("postgres").to_owned(),
            password: config.get_password().map(|p| String::from_utf8_lossy(p).into_owned()),
        };
        if let Err(e) = connect(&server.config("postgres")).await {
            panic!("DATABASE_URL ({server:?}) does not answer: {e}; {HOW_TO_GET_ONE}");
        }
        return (server, None);
    }
    for user in ["postgres", "root"] {
        let server = Server {
            host: "127.0.0.1".into(),
            port: 5432,
            user: user.into(),
            password: None,
        };
        let mut config = server.config("postgres");
        config.connect_timeout(Duration::from_secs(2));
        if let Ok(client) = connect(&config).await {
            let is_superuser = client
                .query_one("SELECT rolsuper FROM pg_roles WHERE rolname = current_user", &[])
                .await
                .is_ok_and(|row| row.get::<_, bool>(0));
            if is_superuser {
                return (server, None);
            }
        }
    }
    let cluster = tokio::task::spawn_blocking(|| Cluster::start(&ClusterOptions::default()))
        .await
        .expect("starting a throwaway cluster panicked");
    (cluster.server.clone(), Some(cluster))
}

/// Connects and spawns the connection task on the current runtime.
async fn connect(config: &Config) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        // The connection ends when the client is dropped or the server goes away.
        let _ = connection.await;
    });
    Ok(client)
}

/// A database of its own for one test, on the shared server or on a [`Cluster`].
/// Dropping it drops the database (`WITH (FORCE)`, so open connections do not keep it).
pub struct TestDatabase {
    pub host: String,
    pub port: u16,
    /// A superuser; tests create less privileged roles themselves when they need one.
    pub user: String,
    pub password: Option<String>,
    pub dbname: String,
    /// Connected to this database as [`TestDatabase::user`].
    pub client: Client,
    server: Server,
}

impl fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TestDatabase({}@{}:{}/{})",
            self.user, self.host, self.port, self.dbname
        )
    }
}

impl TestDatabase {
    /// A fresh, empty database on the shared server (found on first use).
    pub async fn create() -> TestDatabase {
        let server = shared_server().await.clone();
        TestDatabase::create_on(server).await
    }

    async fn create_on(server: Server) -> TestDatabase {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dbname = format!(
            "test_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let admin = connect(&server.config("postgres"))
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {server:?}: {e}; {HOW_TO_GET_ONE}"));
        admin
            .batch_execute(&format!("CREATE DATABASE \"{dbname}\""))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {dbname} on {server:?}: {e}"));
        let client = connect(&server.config(&dbname))
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the new database {dbname}: {e}"));
        TestDatabase {
            host: server.host.clone(),
            port: server.port,
            user: server.user.clone(),
            password: server.password.clone(),
            dbname,
            client,
            server,
        }
    }

    /// A connection config for this database as the superuser (no TLS settings).
    pub fn config(&self) -> Config {
        self.server.config(&self.dbname)
    }

    /// `postgres://user[:password]@host:port/dbname`, for tools that take a URL.
    pub fn url(&self) -> String {
        let credentials = match &self.password {
            Some(password) => format!("{}:{}", self.user, password),
            None => self.user.clone(),
        };
        format!("postgres://{credentials}@{}:{}/{}", self.host, self.port, self.dbname)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let config = self.server.config("postgres");
        let statement = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.dbname);
        // Drop may run inside the test's runtime, so the clean-up gets a thread and a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for dropping the test database");
            runtime.block_on(async {
                let admin = connect(&config).await?;
                admin.batch_execute(&statement).await
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("test-support: could not drop database {}: {e}", self.dbname);
        }
    }
}

/// Client authentication a [`Cluster`] asks of TCP connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HbaAuth {
    /// Anyone may connect as any role (what a developer's local server usually does).
    #[default]
    Trust,
    /// A password is required and checked (SCRAM-SHA-256, PostgreSQL's default).
    ScramSha256,
}

/// A certificate chain and private key (PEM) for a cluster started with `ssl=on`.
#[derive(Clone)]
pub struct ServerTls {
    pub cert_chain_pem: String,
    pub private_key_pem: String,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerTls(..)")
    }
}

/// How to start a [`Cluster`].
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    pub auth: HbaAuth,
    /// `ssl=on` with this certificate; TLS is still optional for clients.
    pub tls: Option<ServerTls>,
}

/// A throwaway PostgreSQL cluster on a free loopback port, in a temp dir, run by a
/// non-root OS user when the tests run as root. Dropping it stops the server and
/// removes the directory; a watchdog does the same if the test process dies first.
pub struct Cluster {
    server: Server,
    data_dir: PathBuf,
    os_user: Option<OsUser>,
    bin_dir: PathBuf,
    // Removed on drop, after the server has stopped.
    _dir: tempfile::TempDir,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cluster({:?} in {})", self.server, self.data_dir.display())
    }
}

/// The OS user that runs a cluster's processes when the tests run as root.
#[derive(Debug, Clone)]
struct OsUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl Cluster {
    /// Starts a cluster (blocking, about a second). The superuser is `postgres` with a
    /// random password, which is required only with [`HbaAuth::ScramSha256`].
    pub fn start(options: &ClusterOptions) -> Cluster {
        let bin_dir = find_bin_dir();
        let os_user = os_user_for_cluster();
        let dir = tempfile::Builder::new()
            .prefix("pg-cluster-")
            .tempdir()
            .expect("a temp dir for the cluster");
        let data_dir = dir.path().join("data");
        let password = format!("pw-{}-{}", std::process::id(), random_suffix());
        fs::write(dir.path().join("pwfile"), &password).expect("writing the password file");
        if let Some(user) = &os_user {
            for path in [dir.path(), &dir.path().join("pwfile")] {
                chown(path, Some(user.uid), Some(user.gid)).expect("chown for the cluster's OS user");
            }
        }
        let initdb = run_as(
            os_user.as_ref(),
            &bin_dir.join("initdb"),
            &[
                "-D",
                path_str(&data_dir),
                "-U",
                "postgres",
                "--pwfile",
                path_str(&dir.path().join("pwfile")),
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        assert!(initdb.status.success(), "initdb failed: {}", output_text(&initdb));

        write_server_config(&data_dir, options, os_user.as_ref());

        // A free port can be taken by someone else before the server binds it: try a few.
        let mut last_failure = String::new();
        for _ in 0..5 {
            let port = free_port();
            let log = dir.path().join("server.log");
            let started = run_as(
                os_user.as_ref(),
                &bin_dir.join("pg_ctl"),
                &[
                    "-D",
                    path_str(&data_dir),
                    "-l",
                    path_str(&log),
                    "-o",
                    &format!("-p {port}"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
            );
            if started.status.success() {
                let cluster = Cluster {
                    server: Server {
                        host: "127.0.0.1".into(),
                        port,
                        user: "postgres".into(),
                        password: Some(password),
                    },
                    data_dir,
                    os_user,
                    bin_dir,
                    _dir: dir,
                };
                cluster.spawn_watchdog();
                return cluster;
            }
            last_failure = format!(
                "{}\n{}",
                output_text(&started),
                fs::read_to_string(&log).unwrap_or_default()
            );
        }
        panic!("pg_ctl start failed: {last_failure}");
    }

    pub fn host(&self) -> &str {
        &self.server.host
    }

    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// The superuser's name (`postgres`).
    pub fn superuser(&self) -> &str {
        &self.server.user
    }

    /// The superuser's password.
    pub fn superuser_password(&self) -> &str {
        self.server.password.as_deref().unwrap_or_default()
    }

    /// A superuser connection config for `dbname` (no TLS settings).
    pub fn config(&self, dbname: &str) -> Config {
        self.server.config(dbname)
    }

    /// A fresh database on this cluster, as on the shared server.
    pub async fn create_database(&self) -> TestDatabase {
        TestDatabase::create_on(self.server.clone()).await
    }

    /// Stops the server when the test process is gone, in case `Drop` never runs
    /// (the process was killed). It polls once a second: clean-up, not synchronisation.
    fn spawn_watchdog(&self) {
        let stop = stop_command(self.os_user.as_ref(), &self.bin_dir.join("pg_ctl"), &self.data_dir);
        let script = format!(
            "while kill -0 {pid} 2>/dev/null && [ -d '{dir}' ]; do sleep 1; done; \
             if [ -d '{dir}' ]; then {stop}; rm -rf '{parent}'; fi",
            pid = std::process::id(),
            dir = self.data_dir.display(),
            parent = self
                .data_dir
                .parent()
                .map_or_else(String::new, |p| p.display().to_string()),
        );
        let spawned = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Err(e) = spawned {
            eprintln!("test-support: no watchdog for {self:?}: {e}");
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let stopped = run_as(
            self.os_user.as_ref(),
            &self.bin_dir.join("pg_ctl"),
            &["-D", path_str(&self.data_dir), "-m", "immediate", "-w", "stop"],
        );
        if !stopped.status.success() {
            eprintln!("test-support: pg_ctl stop failed: {}", output_text(&stopped));
        }
    }
}

/// Writes pg_hba.conf (trust on the unix socket, `auth` on loopback TCP) and appends
/// the server settings (loopback only, no fsync, TLS when asked) to postgresql.conf.
fn write_server_config(data_dir: &Path, options: &ClusterOptions, os_user: Option<&OsUser>) {
    let auth = match options.auth {
        HbaAuth::Trust => "trust",
        HbaAuth::ScramSha256 => "scram-sha-256",
    };
    fs::write(
        data_dir.join("pg_hba.conf"),
        format!("local all all trust\nhost all all 127.0.0.1/32 {auth}\nhost all all ::1/128 {auth}\n"),
    )
    .expect("writing pg_hba.conf");
    let mut conf = String::from(
        "\nlisten_addresses = '127.0.0.1'\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
         max_connections = 50\nshared_buffers = 16MB\nunix_socket_directories = ''\n\
         password_encryption = 'scram-sha-256'\n",
    );
    if let Some(tls) = &options.tls {
        let cert = data_dir.join("server.crt");
        let key = data_dir.join("server.key");
        fs::write(&cert, &tls.cert_chain_pem).expect("writing server.crt");
        fs::write(&key, &tls.private_key_pem).expect("writing server.key");
        // The server refuses a key file readable by others.
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod server.key");
        if let Some(user) = os_user {
            for path in [&cert, &key] {
                chown(path, Some(user.uid), Some(user.gid)).expect("chown the TLS files");
            }
        }
        conf.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
    }
    let mut existing = fs::read_to_string(data_dir.join("postgresql.conf")).expect("reading postgresql.conf");
    existing.push_str(&conf);
    fs::write(data_dir.join("postgresql.conf"), existing).expect("writing postgresql.conf");
}

/// The directory with `initdb`, `pg_ctl` and `postgres`: `PATH` first, then the
/// Debian layout `/usr/lib/postgresql/<version>/bin` (highest version).
fn find_bin_dir() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    for dir in on_path {
        if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
            return dir;
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map_or_else(
        || panic!("no PostgreSQL server found and no initdb to start one; {HOW_TO_GET_ONE}"),
        |(_, bin)| bin,
    )
}

/// `None` when not root; else `postgres` if that OS user exists, else `nobody`
/// (initdb refuses to run as root).
fn os_user_for_cluster() -> Option<OsUser> {
    if id(&["-u"]).as_deref() != Some("0") {
        return None;
    }
    ["postgres", "nobody"]
        .into_iter()
        .find_map(|name| {
            Some(OsUser {
                name: name.to_owned(),
                uid: id(&["-u", name])?.parse().ok()?,
                gid: id(&["-g", name])?.parse().ok()?,
            })
        })
        .or_else(|| panic!("running as root and neither OS user postgres nor nobody exists; {HOW_TO_GET_ONE}"))
}

fn id(args: &[&str]) -> Option<String> {
    let output = Command::new("id").args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn run_as(user: Option<&OsUser>, program: &Path, args: &[&str]) -> std::process::Output {
    let mut command = match user {
        Some(user) => {
            let mut command = Command::new("runuser");
            command.args(["-u", &user.name, "--"]).arg(program);
            command
        }
        None => Command::new(program),
    };
    command
        .args(args)
        // Keep the server's working directory readable by its OS user.
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {HOW_TO_GET_ONE}", program.display()))
}

fn stop_command(user: Option<&OsUser>, pg_ctl: &Path, data_dir: &Path) -> String {
    let stop = format!(
        "'{}' -D '{}' -m immediate -w stop",
        pg_ctl.display(),
        data_dir.display()
    );
    match user {
        Some(user) => format!("runuser -u {} -- {stop}", user.name),
        None => stop,
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

fn random_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(SystemTime::now())
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

fn output_text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
