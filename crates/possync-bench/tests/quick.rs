//! The bench cannot rot: `all --quick` runs (tiny sizes, debug build) and
//! produces every figure, samod's included, as a finite number. No timing is
//! asserted.

use std::process::Command;

const ROLES: [&str; 3] = ["small", "medium", "large"];
const LATENCY: [&str; 4] = ["p50_ms", "p90_ms", "p99_ms", "max_ms"];

fn expected_keys() -> Vec<String> {
    let mut keys = Vec::new();
    for role in ROLES {
        for prefix in ["propagation", "floor.propagation"] {
            keys.extend(LATENCY.iter().map(|l| format!("{prefix}.{role}.{l}")));
            keys.push(format!("{prefix}.{role}.delivered"));
        }
        keys.push(format!("ratio.propagation.{role}.p99"));
        keys.extend(LATENCY.iter().map(|l| format!("samod.propagation.{role}.{l}")));
        keys.push(format!("samod.propagation.{role}.delivered"));
        keys.push(format!("ratio.propagation_vs_samod.{role}.p99"));
        keys.push(format!("propagation.{role}.cpu_ms_per_edit"));
        keys.push(format!("samod.propagation.{role}.cpu_ms_per_edit"));
    }
    keys.extend(LATENCY.iter().map(|l| format!("api_feed.{l}")));
    keys.extend(LATENCY.iter().map(|l| format!("api_write.{l}")));
    keys.extend(LATENCY.iter().map(|l| format!("cost.durable_ack.{l}")));
    for k in [
        "throughput.possync.edits_per_s",
        "throughput.floor.edits_per_s",
        "ratio.throughput",
        "reconnect.median_ms",
        "reconnect.max_ms",
        "cost.cpu_us_per_remote_change",
        "cost.rss_kib_per_order",
        "cost.disk_bytes_per_order",
        "cost.idle_percent_of_a_core",
        "run.seconds",
    ] {
        keys.push(k.to_owned());
    }
    for role in ROLES {
        for f in ["seconds", "bytes", "messages"] {
            keys.push(format!("catchup.{role}.{f}"));
        }
    }
    // samod's catch-up is quadratic: it runs at the first two sizes only.
    for role in ["small", "medium"] {
        for f in ["seconds", "bytes"] {
            keys.push(format!("samod.catchup.{role}.{f}"));
            keys.push(format!("ratio.catchup_vs_samod.{role}.{f}"));
        }
    }
    keys
}

#[test]
fn quick_run_produces_every_figure() {
    let json = std::env::temp_dir().join(format!("possync-bench-quick-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_possync-bench"))
        .args(["all", "--quick", "--json"])
        .arg(&json)
        .output()
        .expect("run possync-bench");
    assert!(
        out.status.success(),
        "possync-bench all --quick failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&json).expect("JSON written");
    let _ = std::fs::remove_file(&json);
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(v["mode"], "quick");
    let figures = v["figures"].as_object().expect("figures object");
    for key in expected_keys() {
        let x = figures.get(&key).and_then(serde_json::Value::as_f64);
        assert!(x.is_some_and(f64::is_finite), "figure {key} missing or not finite: {:?}", figures.get(&key));
    }
    let table = v["table"].as_array().expect("table rows");
    assert!(table.len() >= 12, "table has {} rows", table.len());
    let versus = v["versus_samod"].as_array().expect("possync / samod rows");
    assert_eq!(versus.len(), 9, "3 propagation, 3 CPU and 3 catch-up rows next to samod");
    // Every propagation run of every system stays on record behind the median.
    for role in ["small", "medium", "large"] {
        let d = &v["detail"][format!("propagation.{role}")];
        let runs = d["runs"].as_u64().expect("runs");
        for system in ["possync", "floor", "samod"] {
            for what in ["p99_ms", "cpu_ms_per_edit"] {
                let each = d[format!("{system}_{what}_of_each_run")].as_array().map(Vec::len);
                assert_eq!(each, Some(runs as usize), "{role}: {system} {what} of each run");
            }
        }
    }
}
