//! `mosagg run` (CONTRACT §7): discovery, aggregation, dry runs, and the trainer hand-off,
//! with a fake trainer (a shell script run by `sh` standing in for python) that records
//! its arguments and exits with a chosen status.

use std::path::{Path, PathBuf};

use crate::common::{Scratch, mosagg, row};
use serde_json::{Value, json};

const TS: &str = "2026-05-09T00:00:00+00:00";

/// The trainer: writes one argument per line to $FAKE_TRAINER_LOG, exits $FAKE_TRAINER_STATUS.
const FAKE_TRAINER: &str = r#"printf '%s\n' "$@" > "$FAKE_TRAINER_LOG"
exit "${FAKE_TRAINER_STATUS:-0}"
"#;

struct Workflow {
    s: Scratch,
}

impl Workflow {
    fn new() -> Self {
        Self { s: Scratch::new() }
    }

    fn wd(&self) -> PathBuf {
        self.s.path("wd")
    }

    /// Puts one shard at its conventional place under the work folder.
    fn shard(&self, rel: &str, sha: &str, corpus: &str, mos: f64) -> PathBuf {
        self.s
            .shard(&format!("wd/{rel}"), &[row(sha, corpus, json!(mos))])
    }

    fn trainer(&self) -> PathBuf {
        self.s.shard_text("train.py", FAKE_TRAINER)
    }

    fn log(&self) -> PathBuf {
        self.s.path("trainer-args.txt")
    }

    /// `mosagg run --workdir wd` with a clean environment and the fake interpreter.
    fn cmd(&self) -> assert_cmd::Command {
        let mut c = mosagg();
        for v in [
            "VMAF_AGG_OUT",
            "VMAF_AGG_DRY_RUN",
            "VMAF_AGG_TRAINER",
            "VMAF_AGG_PYTHON",
        ] {
            c.env_remove(v);
        }
        c.env("VMAF_AGG_PYTHON", "sh")
            .env("FAKE_TRAINER_LOG", self.log())
            .current_dir(self.s.dir.path())
            .args(["run", "--workdir"])
            .arg(self.wd())
            .args(["--aggregated-at", TS]);
        c
    }

    fn trainer_args(&self) -> Vec<String> {
        std::fs::read_to_string(self.log())
            .expect("the trainer ran")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn default_out(&self) -> PathBuf {
        self.wd().join("aggregated/unified_corpus.jsonl")
    }
}

fn run(cmd: &mut assert_cmd::Command) -> (i32, String, String) {
    let out = cmd.output().expect("run mosagg");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn manifest(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("manifest");
    serde_json::from_str(&text).expect("manifest JSON")
}

fn input_paths(m: &Value) -> Vec<String> {
    m["run_provenance"]["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .map(|i| i["path"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn nothing_found_exits_2_and_writes_nothing() {
    let w = Workflow::new();
    std::fs::create_dir_all(w.wd()).expect("mkdir");
    let (code, stdout, stderr) = run(&mut w.cmd());
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no per-corpus JSONLs found under"),
        "{stderr}"
    );
    assert!(stdout.contains("discovered 0 corpus JSONL(s)"), "{stdout}");
    assert!(!w.wd().join("aggregated").exists());
}

#[test]
fn discovery_follows_the_conventional_order_and_lists_the_absent() {
    let w = Workflow::new();
    // Created out of order on purpose: the order must come from the convention.
    w.shard(
        "waterloo-ivc-4k/waterloo_ivc_4k.jsonl",
        "w1",
        "waterloo-ivc-4k",
        60.0,
    );
    w.shard("konvid-1k/konvid_1k.jsonl", "k1", "konvid-1k", 3.0);
    w.shard("netflix/netflix_public.jsonl", "n1", "netflix-public", 80.0);
    let (code, stdout, stderr) = run(w.cmd().arg("--dry-run"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("discovered 3 corpus JSONL(s)"), "{stdout}");
    let found: Vec<&str> = stdout.lines().filter(|l| l.starts_with("  + ")).collect();
    assert_eq!(found.len(), 3);
    assert!(found[0].ends_with("netflix/netflix_public.jsonl"));
    assert!(found[1].ends_with("konvid-1k/konvid_1k.jsonl"));
    assert!(found[2].ends_with("waterloo-ivc-4k/waterloo_ivc_4k.jsonl"));
    let absent: Vec<&str> = stdout.lines().filter(|l| l.starts_with("  - ")).collect();
    assert_eq!(absent.len(), 3, "{stdout}");
    assert!(absent.iter().any(|l| l.ends_with("lsvq/lsvq.jsonl")));

    let m = manifest(&w.wd().join("aggregated/unified_corpus.manifest.json"));
    let inputs = input_paths(&m);
    assert!(
        inputs[0].ends_with("netflix_public.jsonl") && inputs[2].ends_with("waterloo_ivc_4k.jsonl")
    );
    assert_eq!(m["counters"]["rows_out"], 3);
}

#[test]
fn dry_run_flag_aggregates_everything_and_skips_the_trainer() {
    let w = Workflow::new();
    w.shard("lsvq/lsvq.jsonl", "l1", "lsvq", 2.0);
    let trainer = w.trainer();
    let (code, stdout, stderr) = run(w.cmd().arg("--dry-run").arg("--trainer").arg(&trainer));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("skipping the trainer"), "{stdout}");
    assert!(!w.log().exists(), "the trainer must not run");
    let out = w.default_out();
    assert!(out.exists());
    assert!(out.with_file_name("unified_corpus.parquet").exists());
    assert!(out.with_file_name("unified_corpus.manifest.json").exists());
    assert!(
        stderr
            .lines()
            .last()
            .unwrap_or("")
            .starts_with("[mosagg] inputs_seen=1"),
        "{stderr}"
    );
}

#[test]
fn dry_run_env_needs_a_non_empty_value() {
    let w = Workflow::new();
    w.shard("lsvq/lsvq.jsonl", "l1", "lsvq", 2.0);
    let trainer = w.trainer();
    let (code, _, stderr) = run(w
        .cmd()
        .env("VMAF_AGG_DRY_RUN", "1")
        .arg("--trainer")
        .arg(&trainer));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !w.log().exists(),
        "VMAF_AGG_DRY_RUN=1 must skip the trainer"
    );

    // Set but empty is unset, as in the reference's `[[ -n ... ]]`.
    let (code, _, stderr) = run(w
        .cmd()
        .env("VMAF_AGG_DRY_RUN", "")
        .arg("--trainer")
        .arg(&trainer));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        w.log().exists(),
        "an empty VMAF_AGG_DRY_RUN must not skip the trainer"
    );
}

#[test]
fn trainer_gets_the_corpus_and_the_extra_arguments() {
    let w = Workflow::new();
    w.shard("konvid-1k/konvid_1k.jsonl", "k1", "konvid-1k", 3.0);
    let trainer = w.trainer();
    let (code, stdout, stderr) =
        run(w
            .cmd()
            .arg("--trainer")
            .arg(&trainer)
            .args(["--", "--epochs", "3", "--name=x y"]));
    assert_eq!(code, 0, "{stderr}");
    let out = w.default_out();
    assert_eq!(
        w.trainer_args(),
        [
            "--corpus",
            &out.display().to_string(),
            "--epochs",
            "3",
            "--name=x y"
        ]
    );
    assert!(stdout.contains("[mosagg run] starting sh"), "{stdout}");
    // The corpus existed when the trainer started: it is read before the trainer's turn.
    assert!(out.exists());
}

#[test]
fn the_trainers_status_is_the_exit_status() {
    let w = Workflow::new();
    w.shard("konvid-1k/konvid_1k.jsonl", "k1", "konvid-1k", 3.0);
    let trainer = w.trainer();
    let (code, _, stderr) = run(w
        .cmd()
        .env("FAKE_TRAINER_STATUS", "7")
        .arg("--trainer")
        .arg(&trainer));
    assert_eq!(code, 7, "{stderr}");
    assert!(stderr.contains("trainer exited with status 7"), "{stderr}");
}

#[test]
fn a_trainer_killed_by_a_signal_reports_128_plus_the_signal() {
    let w = Workflow::new();
    w.shard("konvid-1k/konvid_1k.jsonl", "k1", "konvid-1k", 3.0);
    let trainer = w.s.shard_text("killed.sh", "kill -9 $$\n");
    let (code, _, stderr) = run(w.cmd().arg("--trainer").arg(&trainer));
    assert_eq!(code, 128 + 9, "{stderr}");
}

#[test]
fn absent_trainer_exits_3_with_a_hint_after_aggregating() {
    let w = Workflow::new();
    w.shard("konvid-1k/konvid_1k.jsonl", "k1", "konvid-1k", 3.0);
    // The default trainer path does not exist in the scratch folder.
    let (code, _, stderr) = run(&mut w.cmd());
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("trainer entrypoint ai/scripts/train_predictor_v2_realcorpus.py not found"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--dry-run") && stderr.contains("VMAF_AGG_TRAINER"),
        "{stderr}"
    );
    assert!(
        w.default_out().exists(),
        "aggregation happens before the trainer check"
    );
}

#[test]
fn trainer_env_is_used_and_the_flag_beats_it() {
    let w = Workflow::new();
    w.shard("konvid-1k/konvid_1k.jsonl", "k1", "konvid-1k", 3.0);
    let trainer = w.trainer();
    let (code, _, stderr) = run(w.cmd().env("VMAF_AGG_TRAINER", &trainer));
    assert_eq!(code, 0, "{stderr}");
    assert!(w.log().exists());

    let (code, _, stderr) = run(w
        .cmd()
        .env("VMAF_AGG_TRAINER", &trainer)
        .arg("--trainer")
        .arg(w.s.path("nope.py")));
    assert_eq!(
        code, 3,
        "--trainer must win over VMAF_AGG_TRAINER: {stderr}"
    );
    assert!(stderr.contains("nope.py"), "{stderr}");
}

#[test]
fn output_env_is_used_and_the_flag_beats_it() {
    let w = Workflow::new();
    w.shard("konvid-1k/konvid_1k.jsonl", "k1", "konvid-1k", 3.0);
    let env_out = w.s.path("env/u.jsonl");
    let (code, stdout, stderr) = run(w.cmd().arg("--dry-run").env("VMAF_AGG_OUT", &env_out));
    assert_eq!(code, 0, "{stderr}");
    assert!(env_out.exists());
    assert!(env_out.with_file_name("u.manifest.json").exists());
    assert!(
        stdout.contains(&format!("aggregating -> {}", env_out.display())),
        "{stdout}"
    );
    assert!(!w.default_out().exists());

    let flag_out = w.s.path("flag/u.jsonl");
    let (code, _, stderr) = run(w
        .cmd()
        .arg("--dry-run")
        .env("VMAF_AGG_OUT", w.s.path("other/u.jsonl"))
        .arg("--output")
        .arg(&flag_out));
    assert_eq!(code, 0, "{stderr}");
    assert!(flag_out.exists());
    assert!(!w.s.path("other/u.jsonl").exists());
}

#[test]
fn both_youtube_file_names_are_accepted() {
    let w = Workflow::new();
    w.shard("youtube-ugc/youtube-ugc.jsonl", "y1", "youtube-ugc", 4.0);
    let (code, stdout, stderr) = run(w.cmd().arg("--dry-run"));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("  + ") && stdout.contains("youtube-ugc/youtube-ugc.jsonl"),
        "{stdout}"
    );

    // With both, the reference's name is read and the other is named as ignored.
    w.shard("youtube-ugc/youtube_ugc.jsonl", "y2", "youtube-ugc", 4.0);
    let (code, stdout, stderr) = run(w.cmd().arg("--dry-run"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("youtube-ugc/youtube_ugc.jsonl"), "{stdout}");
    assert!(stderr.contains("youtube-ugc.jsonl ignored"), "{stderr}");
    let m = manifest(&w.wd().join("aggregated/unified_corpus.manifest.json"));
    let inputs = input_paths(&m);
    assert_eq!(inputs.len(), 1);
    assert!(inputs[0].ends_with("youtube_ugc.jsonl"));
}

#[test]
fn relative_paths_resolve_from_the_current_folder() {
    let w = Workflow::new();
    w.shard("konvid-1k/konvid_1k.jsonl", "k1", "konvid-1k", 3.0);
    w.trainer();
    let mut cmd = mosagg();
    for v in ["VMAF_AGG_OUT", "VMAF_AGG_DRY_RUN", "VMAF_AGG_TRAINER"] {
        cmd.env_remove(v);
    }
    cmd.current_dir(w.s.dir.path())
        .env("VMAF_AGG_PYTHON", "sh")
        .env("FAKE_TRAINER_LOG", w.log())
        .args([
            "run",
            "--workdir",
            "wd",
            "--trainer",
            "train.py",
            "--output",
            "rel/u.jsonl",
        ])
        .args(["--aggregated-at", TS]);
    let (code, _, stderr) = run(&mut cmd);
    assert_eq!(code, 0, "{stderr}");
    assert!(w.s.path("rel/u.jsonl").exists());
    assert_eq!(w.trainer_args(), ["--corpus", "rel/u.jsonl"]);
}

#[test]
fn default_work_folder_is_dot_workingdir2() {
    let s = Scratch::new();
    s.shard(
        ".workingdir2/lsvq/lsvq.jsonl",
        &[row("l1", "lsvq", json!(2.0))],
    );
    let mut cmd = mosagg();
    cmd.env_remove("VMAF_AGG_OUT")
        .current_dir(s.dir.path())
        .args(["run", "--dry-run", "--aggregated-at", TS]);
    let (code, _, stderr) = run(&mut cmd);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        s.path(".workingdir2/aggregated/unified_corpus.jsonl")
            .exists()
    );
}

#[test]
fn missing_interpreter_exits_127() {
    let w = Workflow::new();
    w.shard("konvid-1k/konvid_1k.jsonl", "k1", "konvid-1k", 3.0);
    let trainer = w.trainer();
    let (code, _, stderr) = run(w
        .cmd()
        .env("VMAF_AGG_PYTHON", w.s.path("no-such-python"))
        .arg("--trainer")
        .arg(&trainer));
    assert_eq!(code, 127, "{stderr}");
    assert!(stderr.contains("VMAF_AGG_PYTHON"), "{stderr}");
}

#[test]
fn aggregation_errors_stop_before_the_trainer() {
    let w = Workflow::new();
    w.s.shard_text("wd/lsvq/lsvq.jsonl", "{not json\n");
    let trainer = w.trainer();
    let (code, _, stderr) = run(w.cmd().arg("--trainer").arg(&trainer));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("lsvq.jsonl:1: invalid JSON"), "{stderr}");
    assert!(!w.log().exists());
}

/// Runs `cmd` on a pseudo-terminal via util-linux `script`, returning what the terminal showed.
fn on_a_terminal(dir: &Path, cmd: &str) -> (i32, String) {
    let out = std::process::Command::new("script")
        .args(["-qec", cmd, "/dev/null"])
        .current_dir(dir)
        .env("TERM", "xterm")
        .output()
        .expect("util-linux `script` is needed to test the progress bar on a terminal");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn progress_bar_shows_on_a_terminal_only() {
    let w = Workflow::new();
    w.shard("konvid-1k/konvid_1k.jsonl", "k1", "konvid-1k", 3.0);
    let bin = env!("CARGO_BIN_EXE_mosagg");
    let (code, screen) = on_a_terminal(
        w.s.dir.path(),
        &format!("{bin} run --workdir wd --dry-run --aggregated-at {TS}"),
    );
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("aggregate") && screen.contains("rows/s"),
        "{screen}"
    );

    // Piped stderr: not a trace of the bar.
    let (code, _, stderr) = run(w.cmd().arg("--dry-run"));
    assert_eq!(code, 0);
    assert!(!stderr.contains("rows/s"), "{stderr}");
    assert!(
        !stderr.contains('\x1b') && !stderr.contains('\r'),
        "{stderr:?}"
    );
}

#[test]
fn compressed_shards_in_the_work_folder_are_found_and_read() {
    let w = Workflow::new();
    w.shard("lsvq/lsvq.jsonl", "l1", "lsvq", 4.0);
    let plain = w.wd().join("lsvq/lsvq.jsonl");
    let text = std::fs::read(&plain).expect("shard");
    std::fs::remove_file(&plain).expect("rm");
    crate::common::write_zstd(&w.wd().join("lsvq/lsvq.jsonl.zst"), &text);
    w.shard("konvid-1k/konvid_1k.jsonl", "k1", "konvid-1k", 3.0);
    let packed = w.wd().join("konvid-1k/konvid_1k.jsonl.gz");
    crate::common::write_gzip(
        &packed,
        &std::fs::read(w.wd().join("konvid-1k/konvid_1k.jsonl")).expect("k"),
    );
    let (code, stdout, stderr) = run(w.cmd().arg("--dry-run"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("lsvq/lsvq.jsonl.zst"), "{stdout}");
    // Both spellings of one slot: the plain one is read, the compressed one ignored.
    assert!(stderr.contains("konvid_1k.jsonl.gz ignored"), "{stderr}");
    let m = manifest(&w.wd().join("aggregated/unified_corpus.manifest.json"));
    assert_eq!(m["counters"]["rows_out"], 2);
}
