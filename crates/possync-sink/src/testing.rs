//! A throw-away PostgreSQL cluster for tests and the demo: made by `initdb` in a
//! temporary directory, listening only on a unix socket in that directory
//! (no TCP), with a password, stopped and removed when dropped. As root
//! (CI), it runs as the `postgres` system user, since PostgreSQL refuses to
//! run as root. It never skips: if it cannot start, the error says why.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::postgres_config::PostgresConfig;
use crate::secret::Secret;

/// The user and password of the cluster's superuser.
pub const USER: &str = "possync";
const PASSWORD: &str = "test-only-password";

#[derive(Debug)]
pub struct TempCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Run the server's tools as this user (`runuser -u`), when root.
    run_as: Option<String>,
    running: bool,
}

impl TempCluster {
    /// Makes and starts a cluster.
    pub fn start() -> Result<Self, String> {
        let bin = find_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("possync-pg-")
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?;
        let root = is_root();
        let run_as = root.then(|| "postgres".to_owned());
        if root {
            chown_to_postgres(dir.path())?;
        }
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, PASSWORD).map_err(|e| format!("password file: {e}"))?;
        if root {
            chown_to_postgres(&pwfile)?;
        }
        let mut cluster = TempCluster { dir, bin, run_as, running: false };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                path_str(&data)?,
                "-U",
                USER,
                "--auth=scram-sha-256",
                "--pwfile",
                path_str(&pwfile)?,
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )?;
        cluster.resume()?;
        Ok(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The socket directory.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A sink configuration for this cluster (password from a file).
    pub fn config(&self) -> PostgresConfig {
        PostgresConfig {
            host: self.socket_dir().display().to_string(),
            port: 5432,
            user: USER.into(),
            dbname: "postgres".into(),
            password: Some(Secret::File(self.dir.path().join("pwfile"))),
            connect_timeout: std::time::Duration::from_secs(5),
        }
    }

    /// The password, for tests that write it to a file.
    pub fn password(&self) -> &'static str {
        PASSWORD
    }

    /// Stops the server (fast: open transactions are rolled back).
    pub fn pause(&mut self) -> Result<(), String> {
        let data = self.data();
        self.run("pg_ctl", &["-D", path_str(&data)?, "-m", "fast", "-w", "stop"])?;
        self.running = false;
        Ok(())
    }

    /// Starts it (again).
    pub fn resume(&mut self) -> Result<(), String> {
        let data = self.data();
        let log = self.dir.path().join("server.log");
        let opts = format!("-c listen_addresses='' -k {} -c fsync=off", path_str(self.dir.path())?);
        self.run("pg_ctl", &["-D", path_str(&data)?, "-l", path_str(&log)?, "-o", &opts, "-w", "start"])
            .map_err(|e| {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                format!("{e}\nserver log:\n{log}")
            })?;
        self.running = true;
        Ok(())
    }

    /// Runs `psql -At -c sql` and returns its output.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        let host = path_str(self.dir.path())?;
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", host, "-U", USER, "-d", "postgres", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        if !out.status.success() {
            return Err(format!("psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let exe = self.bin.join(tool);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out = cmd.args(args).output().map_err(|e| format!("{}: {e}", exe.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{tool} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        if self.running {
            let _ = self.pause();
        }
    }
}

fn path_str(p: &Path) -> Result<&str, String> {
    p.to_str().ok_or_else(|| format!("{} is not UTF-8", p.display()))
}

/// Where `initdb`, `pg_ctl` and `psql` are: Debian's versioned directory
/// (the newest), else `PATH`.
fn find_bin() -> Result<PathBuf, String> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    versions.sort();
    if let Some(bin) = versions.pop() {
        return Ok(bin);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists() && d.join("psql").exists())
        .ok_or_else(|| "PostgreSQL not found (no initdb/pg_ctl/psql): install Debian's `postgresql`".into())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn chown_to_postgres(p: &Path) -> Result<(), String> {
    let out = Command::new("chown")
        .args(["postgres:postgres", path_str(p)?])
        .output()
        .map_err(|e| format!("chown: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "chown postgres {}: {} (is there a `postgres` system user?)",
            p.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}
