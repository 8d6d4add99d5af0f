//! The `possync` binary itself: `demo --rush` on a small size ends with every
//! terminal identical (and, with `--postgres`, every closed order in a real
//! PostgreSQL once); `keygen` writes a usable key; bad flags fail clearly.

#![allow(clippy::unwrap_used)]

use std::process::Command;

fn possync() -> Command {
    Command::new(env!("CARGO_BIN_EXE_possync"))
}

#[test]
fn demo_rush_ends_with_identical_terminals() {
    let out = possync().args(["demo", "--terminals", "3", "--port", "0", "--rush", "4"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    let line = stdout.lines().find(|l| l.starts_with("rush done")).unwrap();
    assert!(line.contains("12 orders opened"), "{line}");
    assert!(line.contains("every terminal holds identical orders: 12 orders"), "{line}");
}

/// Needs Debian's `postgresql` (`.ci/run` installs it): fails, saying so,
/// without it.
#[test]
fn demo_postgres_in_one_flag_shows_every_closed_order_arriving_once() {
    let out = possync().args(["demo", "--port", "0", "--rush", "4", "--postgres"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("closed orders go to a throw-away PostgreSQL"), "{stdout}");
    let line = stdout.lines().find(|l| l.starts_with("PostgreSQL holds")).unwrap();
    let held: usize = line.split_whitespace().nth(2).unwrap().parse().unwrap();
    // The rush pays about half of its 12 orders; the count is read from
    // PostgreSQL and compared there with the terminals' closed orders.
    assert!((1..=12).contains(&held), "{line}");
    assert!(line.contains("every closed order once"), "{line}");
    assert!(stdout.lines().any(|l| l.starts_with("rush done")), "{stdout}");
}

#[test]
fn keygen_writes_a_private_key_once() {
    let dir = std::env::temp_dir().join(format!("possync-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("floor.key");
    let _ = std::fs::remove_file(&key);
    let out = possync().args(["keygen", "--out"]).arg(&key).output().unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(text.starts_with("/key/swarm/psk/1.0.0/"));
    let again = possync().args(["keygen", "--out"]).arg(&key).output().unwrap();
    assert!(!again.status.success(), "never overwrites a key");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_refuses_an_exposed_api_without_a_token_and_missing_settings() {
    let out = possync()
        .args(["run", "--session", "s", "--terminal", "T1", "--data-dir", "/tmp/x", "--api", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("api_token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = possync().args(["run", "--terminal", "T1"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--session"));
    let out = possync()
        .args(["run", "--session", "s", "--terminal", "bad-name!", "--data-dir", "/tmp/x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid terminal id"));
}

#[test]
fn run_without_a_session_key_must_be_asked_for() {
    let dir = std::env::temp_dir().join(format!("possync-cli-nokey-{}", std::process::id()));
    let out = possync()
        .args(["run", "--session", "s", "--terminal", "T1", "--api", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no session key") && stderr.contains("--insecure-no-key"), "{stderr}");
    assert!(!dir.join("possync.redb").exists(), "refused before anything was opened");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_on_a_taken_port_says_which_option_to_use_and_leaves_nothing_behind() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    // The second terminal's port is the taken one: the first was free.
    let child = possync()
        .args(["demo", "--terminals", "2", "--port", &(port - 1).to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The demo's temporary data directory is named after its process id.
    let data = std::env::temp_dir().join(format!("possync-demo-{}", child.id()));
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // (Port `port - 1` may happen to be taken too: either is named.)
    assert!(stderr.contains("API port") && stderr.contains("--port 0"), "{stderr}");
    assert!(!data.exists(), "{} left behind", data.display());
}

#[test]
fn run_refuses_a_sink_whose_password_is_missing_or_written_inline() {
    let dir = std::env::temp_dir().join(format!("possync-cli-sink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("t.toml");
    let sink =
        "[[sink]]\nname = \"pg\"\nkind = \"postgres\"\nhost = \"/nowhere\"\nuser = \"u\"\ndbname = \"d\"\n";
    let run = |toml: &str| {
        std::fs::write(&config, toml).unwrap();
        let out = possync()
            .args(["run", "--session", "s", "--terminal", "T1", "--insecure-no-key", "--api", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let missing = dir.join("no-such-password-file");
    let stderr = run(&format!("{sink}password_file = \"{}\"\n", missing.display()));
    assert!(stderr.contains("no-such-password-file"), "{stderr}");
    let stderr = run(&format!("{sink}password = \"hunter2\"\n"));
    assert!(stderr.contains("invalid configuration"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "the password is not echoed: {stderr}");
    assert!(!dir.join("data").join("possync.redb").exists(), "refused before anything was opened");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_on_a_taken_libp2p_port_names_the_address_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = format!("/ip4/127.0.0.1/tcp/{}", taken.local_addr().unwrap().port());
    let out = possync()
        .args(["run", "--session", "s", "--terminal", "T1", "--insecure-no-key", "--api", "127.0.0.1:0"])
        .args(["--listen", &listen])
        .arg("--data-dir")
        .arg(dir.path())
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("listening on {listen}: Address already in use")), "{stderr}");
}
