//! What mosagg guarantees about your files (README section of that name), proved
//! through the real binary: no flag combination overwrites an input, a failed or killed
//! run leaves the previous output set as it was, two runs never mix their files, a
//! signal leaves no staged or spill file behind, and any file name works.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{Scratch, TS, many_rows, mosagg, row, sha256_hex};

/// Two small shards with a cross-corpus duplicate; returns their paths.
fn two_shards(s: &Scratch) -> (PathBuf, PathBuf) {
    let a = s.shard(
        "in/konvid_1k.jsonl",
        &[
            row("aa", "konvid-1k", json!(4.0)),
            row("bb", "konvid-1k", json!(2.0)),
        ],
    );
    let b = s.shard(
        "in/lsvq.jsonl",
        &[row("aa", "lsvq", json!(3.0)), row("cc", "lsvq", json!(9.0))],
    );
    (a, b)
}

/// Every file under `dir` with the sha256 of its bytes, to prove nothing changed.
fn snapshot(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let digest = sha256_hex(&p);
                out.push((p, digest));
            }
        }
    }
    out.sort();
    out
}

/// Names under `dir` (recursively) that only a run in progress should have.
fn leftovers(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains(".mosagg-") || name.starts_with("mosagg-spill-") {
                found.push(e.path().display().to_string());
            }
            if e.path().is_dir() {
                stack.push(e.path());
            }
        }
    }
    found
}

/// `aggregate` with these inputs and output; the time is pinned unless the caller pins it.
fn aggregate_cmd(inputs: &[&Path], output: &Path) -> assert_cmd::Command {
    let mut cmd = unpinned_aggregate_cmd(inputs, output);
    cmd.args(["--aggregated-at", TS]);
    cmd
}

fn unpinned_aggregate_cmd(inputs: &[&Path], output: &Path) -> assert_cmd::Command {
    let mut cmd = mosagg();
    cmd.arg("aggregate").arg("--inputs");
    for i in inputs {
        cmd.arg(i);
    }
    cmd.arg("--output").arg(output);
    cmd
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link).expect("symlink");
}

#[test]
#[cfg(unix)]
fn no_output_may_be_an_input_or_another_output_however_spelt() {
    let s = Scratch::new();
    let (a, b) = two_shards(&s);
    std::fs::create_dir_all(s.path("out")).expect("mkdir");
    symlink(&a, &s.path("link-to-a.jsonl"));
    symlink(&s.path("out"), &s.path("outlink"));
    let another_a = s.path("in/../in/./konvid_1k.jsonl");
    let out = s.path("out/u.jsonl");
    let before = snapshot(s.dir.path());

    // (extra flags, the two flags the message must name)
    let cases: Vec<(Vec<std::ffi::OsString>, PathBuf, [&str; 2])> = vec![
        (vec![], another_a.clone(), ["--output", "--inputs"]),
        (vec![], s.path("link-to-a.jsonl"), ["--output", "--inputs"]),
        (
            vec!["--rejects".into(), another_a.clone().into()],
            out.clone(),
            ["--rejects", "--inputs"],
        ),
        (
            vec!["--rejects".into(), s.path("link-to-a.jsonl").into()],
            out.clone(),
            ["--rejects", "--inputs"],
        ),
        (
            vec!["--parquet".into(), s.path("outlink/u.jsonl").into()],
            out.clone(),
            ["--output", "--parquet"],
        ),
        (
            vec!["--manifest-out".into(), s.path("out/./u.jsonl").into()],
            out.clone(),
            ["--output", "--manifest-out"],
        ),
        (
            vec!["--rejects".into(), s.path("out/../out/u.jsonl").into()],
            out.clone(),
            ["--output", "--rejects"],
        ),
        (
            vec![
                "--parquet".into(),
                s.path("out/x.bin").into(),
                "--manifest-out".into(),
                s.path("outlink/x.bin").into(),
            ],
            out.clone(),
            ["--parquet", "--manifest-out"],
        ),
        (
            vec!["--manifest-out".into(), b.clone().into()],
            out.clone(),
            ["--manifest-out", "--inputs"],
        ),
    ];
    for (extra, output, flags) in cases {
        let res = aggregate_cmd(&[&a, &b], &output)
            .args(&extra)
            .output()
            .expect("run");
        let err = stderr_of(&res);
        assert_eq!(res.status.code(), Some(2), "{extra:?} {output:?}: {err}");
        for flag in flags {
            assert!(err.contains(flag), "{extra:?}: message names {flag}: {err}");
        }
        assert_eq!(
            snapshot(s.dir.path()),
            before,
            "{extra:?}: nothing may change"
        );
    }

    // The defaults derived from --output count too: OUT.parquet named as an input.
    let pq_input = s.shard("in/u.parquet", &[row("dd", "lsvq", json!(3.0))]);
    let res = aggregate_cmd(&[&a, &pq_input], &s.path("in/u.jsonl"))
        .output()
        .expect("run");
    assert_eq!(res.status.code(), Some(2), "{}", stderr_of(&res));
    assert!(stderr_of(&res).contains("--parquet"));
}

#[test]
fn merge_and_stats_refuse_to_overwrite_their_input() {
    let s = Scratch::new();
    let (a, b) = two_shards(&s);
    let before = sha256_hex(&a);
    let res = mosagg()
        .args(["merge", "--required-keys", "minimal", "--inputs"])
        .arg(&a)
        .arg(&b)
        .arg("--output")
        .arg(s.path("in/./konvid_1k.jsonl"))
        .output()
        .expect("run");
    assert_eq!(res.status.code(), Some(2), "{}", stderr_of(&res));
    assert!(stderr_of(&res).contains("--output"));
    assert_eq!(sha256_hex(&a), before);

    let out = s.path("u.jsonl");
    aggregate_cmd(&[&a, &b], &out).assert().success();
    let parquet = s.path("u.parquet");
    let pq_before = sha256_hex(&parquet);
    let res = mosagg()
        .arg("stats")
        .arg(&parquet)
        .arg("--plot")
        .arg(s.path("./u.parquet"))
        .output()
        .expect("run");
    assert_eq!(res.status.code(), Some(2), "{}", stderr_of(&res));
    assert!(stderr_of(&res).contains("--plot"));
    assert_eq!(sha256_hex(&parquet), pq_before);
}

#[test]
fn an_output_that_is_a_folder_is_refused_before_the_run() {
    let s = Scratch::new();
    let (a, b) = two_shards(&s);
    let out = s.path("out/u.jsonl");
    aggregate_cmd(&[&a, &b], &out).assert().success();
    let before = snapshot(s.dir.path());
    std::fs::create_dir_all(s.path("a-folder")).expect("mkdir");
    for flag in ["--parquet", "--manifest-out", "--rejects"] {
        let res = aggregate_cmd(&[&a, &b], &out)
            .arg(flag)
            .arg(s.path("a-folder"))
            .output()
            .expect("run");
        assert_eq!(res.status.code(), Some(2), "{flag}: {}", stderr_of(&res));
        assert!(stderr_of(&res).contains("is an existing folder"));
        // The earlier set is untouched, and still verifies.
        let mut now = snapshot(s.dir.path());
        now.retain(|(p, _)| !p.starts_with(s.path("a-folder")));
        assert_eq!(now, before, "{flag}");
    }
    mosagg()
        .arg("verify")
        .arg(s.path("out/u.manifest.json"))
        .assert()
        .success();
}

#[test]
fn a_failed_run_leaves_the_previous_set_byte_identical() {
    let s = Scratch::new();
    let (a, b) = two_shards(&s);
    let out = s.path("out/u.jsonl");
    aggregate_cmd(&[&a, &b], &out)
        .arg("--rejects")
        .arg(s.path("out/rejects.jsonl"))
        .assert()
        .success();
    let before = snapshot(&s.path("out"));
    // A later shard has a broken line: a data error after part of the input was read.
    let broken = s.shard_text(
        "in/broken.jsonl",
        &format!("{}\n{{not json\n", row("zz", "lsvq", json!(3.0))),
    );
    let res = aggregate_cmd(&[&a, &b, &broken], &out)
        .arg("--rejects")
        .arg(s.path("out/rejects.jsonl"))
        .output()
        .expect("run");
    assert_eq!(res.status.code(), Some(1));
    assert!(stderr_of(&res).contains("broken.jsonl:2"));
    assert_eq!(snapshot(&s.path("out")), before);
    assert!(leftovers(s.dir.path()).is_empty());
}

#[test]
fn a_second_run_on_a_locked_output_stops_or_waits() {
    let s = Scratch::new();
    let (a, b) = two_shards(&s);
    let out = s.path("u.jsonl");
    // Hold the output's lock as another run would.
    let lock_path = s.path(".u.jsonl.mosagg-lock");
    let mut lock = File::create(&lock_path).expect("lock file");
    lock.lock().expect("lock");
    writeln!(lock, "4242").expect("pid");

    let res = aggregate_cmd(&[&a, &b], &out).output().expect("run");
    assert_eq!(res.status.code(), Some(1), "{}", stderr_of(&res));
    let err = stderr_of(&res);
    assert!(
        err.contains("another mosagg run (pid 4242) is writing"),
        "{err}"
    );
    assert!(err.contains("u.jsonl"), "{err}");
    assert!(!out.exists());

    // With --wait it blocks until the lock is released, then completes.
    let mut waiting = Command::new(env!("CARGO_BIN_EXE_mosagg"))
        .arg("aggregate")
        .arg("--inputs")
        .arg(&a)
        .arg(&b)
        .arg("--output")
        .arg(&out)
        .args(["--aggregated-at", TS, "--wait"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        waiting.try_wait().expect("poll").is_none(),
        "--wait must wait while the lock is held"
    );
    assert!(!out.exists());
    drop(lock);
    let status = waiting.wait().expect("wait");
    assert!(status.success());
    assert!(out.exists());
    assert!(
        !lock_path.exists(),
        "the lock file is removed after the run"
    );
}

#[test]
fn concurrent_runs_on_one_output_never_mix_their_files() {
    let s = Scratch::new();
    let (a, b) = two_shards(&s);
    let c = s.shard("in/other.jsonl", &[row("ee", "youtube-ugc", json!(2.5))]);
    let out = s.path("u.jsonl");
    for round in 0..4 {
        let spawn = |inputs: &[&Path]| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_mosagg"));
            cmd.arg("aggregate").arg("--inputs");
            for i in inputs {
                cmd.arg(i);
            }
            cmd.arg("--output")
                .arg(&out)
                .args(["--aggregated-at", TS, "--wait", "--log-level", "ERROR"])
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn")
        };
        let mut first = spawn(&[&a, &b]);
        let mut second = spawn(&[&c]);
        assert!(first.wait().expect("wait").success(), "round {round}");
        assert!(second.wait().expect("wait").success(), "round {round}");
        mosagg()
            .arg("verify")
            .arg(s.path("u.manifest.json"))
            .assert()
            .success();
        assert!(leftovers(s.dir.path()).is_empty(), "round {round}");
    }
}

/// A shard big enough that a debug build needs a few seconds for it.
fn big_shard(s: &Scratch, name: &str, corpus: &str, rows: usize) -> PathBuf {
    s.shard_text(name, &many_rows(corpus, rows))
}

#[test]
#[cfg(unix)]
fn sigint_and_sigterm_leave_no_staged_or_spill_file() {
    let s = Scratch::new();
    let a = big_shard(&s, "in/a.jsonl", "konvid-1k", 60_000);
    let b = big_shard(&s, "in/b.jsonl", "lsvq", 60_000);
    let spill = s.path("spill");
    std::fs::create_dir_all(&spill).expect("mkdir");
    let out_dir = s.path("out");
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mosagg"))
            .arg("aggregate")
            .arg("--inputs")
            .arg(&a)
            .arg(&b)
            .arg("--output")
            .arg(out_dir.join("u.jsonl"))
            .arg("--rejects")
            .arg(out_dir.join("rejects.jsonl"))
            .arg("--spill-dir")
            .arg(&spill)
            .args(["--log-level", "ERROR"])
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        // Wait until the run has staged output files, then stop it.
        let started = Instant::now();
        loop {
            let staged = std::fs::read_dir(&out_dir)
                .expect("read_dir")
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".tmp"));
            if staged {
                break;
            }
            assert!(
                child.try_wait().expect("poll").is_none(),
                "the run ended before it staged anything"
            );
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no staged file"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(
            std::fs::read_dir(&spill).expect("spill").next().is_some(),
            "the run has its spill folder"
        );
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill");
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(code), "SIG{signal}");
        assert!(
            leftovers(s.dir.path()).is_empty(),
            "SIG{signal} left {:?}",
            leftovers(s.dir.path())
        );
        assert_eq!(std::fs::read_dir(&out_dir).expect("out").count(), 0);
        assert_eq!(std::fs::read_dir(&spill).expect("spill").count(), 0);
    }
}

#[test]
#[cfg(unix)]
fn a_kill_at_any_commit_step_leaves_the_old_set_or_the_new_one() {
    use std::os::unix::process::ExitStatusExt;
    let s = Scratch::new();
    let (a, b) = two_shards(&s);
    let c = s.shard("in/other.jsonl", &[row("ee", "youtube-ugc", json!(2.5))]);
    let out = s.path("out/u.jsonl");
    let manifest = s.path("out/u.manifest.json");
    let run = |inputs: &[&Path], kill_at: Option<u32>| {
        let mut cmd = aggregate_cmd(inputs, &out);
        cmd.arg("--rejects").arg(s.path("out/rejects.jsonl"));
        if let Some(k) = kill_at {
            cmd.env("MOSAGG_TEST_KILL_AT_COMMIT_STEP", k.to_string());
        }
        cmd.output().expect("run")
    };
    assert!(run(&[&a, &b], None).status.success());
    let old = snapshot(&s.path("out"));
    assert!(run(&[&c], None).status.success());
    let new = snapshot(&s.path("out"));
    assert_ne!(old, new);

    let mut killed_at = Vec::new();
    for step in 0..20 {
        // Start from the old set each time.
        assert!(run(&[&a, &b], None).status.success());
        assert_eq!(snapshot(&s.path("out")), old);
        let res = run(&[&c], Some(step));
        if res.status.success() {
            break;
        }
        assert_eq!(
            res.status.signal(),
            Some(9),
            "step {step}: {}",
            stderr_of(&res)
        );
        killed_at.push(step);
        // A reader trusting the manifest: whenever it exists, it matches the files.
        if manifest.exists() {
            let listed = std::fs::read_to_string(&manifest).expect("manifest");
            let doc: serde_json::Value = serde_json::from_str(&listed).expect("json");
            for o in doc["run_provenance"]["outputs"]
                .as_array()
                .expect("outputs")
            {
                let p = PathBuf::from(o["path"].as_str().expect("path"));
                assert_eq!(
                    serde_json::Value::from(sha256_hex(&p)),
                    o["sha256"],
                    "step {step}: manifest present but {p:?} does not match it"
                );
            }
        }
        // verify completes an interrupted commit, then the set is whole: old or new.
        let v = mosagg()
            .arg("verify")
            .arg(&manifest)
            .output()
            .expect("verify");
        assert!(v.status.success(), "step {step}: {}", stderr_of(&v));
        let now: Vec<_> = snapshot(&s.path("out"))
            .into_iter()
            .filter(|(p, _)| {
                !p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .contains(".mosagg-")
            })
            .collect();
        assert!(now == old || now == new, "step {step}: a mixed set");
        // The next run removes what the killed one left.
        assert!(run(&[&a, &b], None).status.success());
        assert!(
            leftovers(s.dir.path()).is_empty(),
            "step {step}: {:?}",
            leftovers(s.dir.path())
        );
    }
    // Before the journal, after it, before each of four renames, before removing it.
    assert_eq!(killed_at, (0..7).collect::<Vec<_>>());
}

#[test]
#[cfg(unix)]
fn any_file_name_works_and_is_printed_on_one_line() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let s = Scratch::new();
    // The second row has an unknown label, so a warning names the file and line.
    let good = s.shard(
        "in/a.jsonl",
        &[
            row("aa", "konvid-1k", json!(4.0)),
            row("bb", "mystery", json!(4.0)),
        ],
    );
    let odd_input = s.dir.path().join(OsStr::from_bytes(b"in/bad\xff.jsonl"));
    std::fs::copy(&good, &odd_input).expect("copy");
    let missing = s.dir.path().join("in/new\nline.jsonl");
    let out = s.dir.path().join(OsStr::from_bytes(b"out\xfe.jsonl"));
    let res = aggregate_cmd(&[&odd_input, &missing], &out)
        .args(["--log-level", "INFO"])
        .output()
        .expect("run");
    let err = stderr_of(&res);
    assert_eq!(res.status.code(), Some(0), "{err}");
    assert!(err.contains("bad\\xFF.jsonl:2: "), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("WARNING input not found, skipping: ")
                && l.ends_with("new\\nline.jsonl")),
        "{err}"
    );
    assert!(
        err.lines().last().unwrap_or("").ends_with("out\\xFE.jsonl"),
        "{err}"
    );
    assert!(out.exists());

    // No subcommand panics on such a name.
    let name = OsStr::from_bytes(b"nope\xff.jsonl");
    let runs: Vec<Vec<&OsStr>> = vec![
        vec!["verify".as_ref(), name],
        vec!["stats".as_ref(), name],
        vec![
            "query".as_ref(),
            "SELECT 1".as_ref(),
            "--table".as_ref(),
            name,
        ],
        vec![
            "merge".as_ref(),
            "--inputs".as_ref(),
            name,
            name,
            "--output".as_ref(),
            "m.jsonl".as_ref(),
        ],
        vec![
            "run".as_ref(),
            "--workdir".as_ref(),
            name,
            "--dry-run".as_ref(),
        ],
        vec![
            "aggregate".as_ref(),
            "--inputs".as_ref(),
            name,
            "--output".as_ref(),
            "u.jsonl".as_ref(),
            "--corpus-source-override".as_ref(),
            OsStr::from_bytes(b"nope\xff.jsonl=lsvq"),
        ],
    ];
    for args in runs {
        let res = mosagg()
            .current_dir(s.dir.path())
            .args(&args)
            .output()
            .expect("run");
        let err = stderr_of(&res);
        assert_ne!(res.status.code(), Some(101), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(matches!(res.status.code(), Some(1 | 2)), "{args:?}: {err}");
    }
}

#[test]
fn odd_arguments_are_usage_errors_before_any_file_is_touched() {
    let s = Scratch::new();
    let (a, b) = two_shards(&s);
    let out = s.path("out/u.jsonl");
    let usage = |extra: &[&str], inputs: &[&Path], needle: &str| {
        let res = unpinned_aggregate_cmd(inputs, &out)
            .args(extra)
            .output()
            .expect("run");
        let err = stderr_of(&res);
        assert_eq!(res.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(needle), "{extra:?}: {err}");
        assert!(!s.path("out").exists(), "{extra:?}: nothing may be created");
    };
    usage(&["--memory-limit", "0.1"], &[&a, &b], "--memory-limit");
    usage(
        &["--memory-limit", "4096"],
        &[&a, &b],
        "smallest limit is 1M",
    );
    usage(
        &["--spill-dir", "/nonexistent-mosagg-spill"],
        &[&a, &b],
        "/nonexistent-mosagg-spill",
    );
    usage(
        &["--aggregated-at", "2026-02-31T00:00:00+00:00"],
        &[&a, &b],
        "2026-02-31",
    );
    // Every input missing, and a bad label: the label is the error that is reported.
    let missing = s.path("in/none.jsonl");
    usage(
        &["--corpus-source-override", "x.jsonl=not-real"],
        &[&missing],
        "unknown corpus-source label \"not-real\"",
    );
}

#[test]
fn memory_limit_failures_name_the_flag() {
    let s = Scratch::new();
    let (a, b) = two_shards(&s);
    let out = s.path("u.jsonl");
    let res = aggregate_cmd(&[&a, &b], &out)
        .args(["--memory-limit", "1M"])
        .output()
        .expect("run");
    let err = stderr_of(&res);
    assert_eq!(res.status.code(), Some(1), "{err}");
    assert!(err.contains("--memory-limit 1M"), "{err}");
    assert!(!err.contains("datafusion.runtime"), "{err}");
    assert!(!out.exists());
    assert!(leftovers(s.dir.path()).is_empty());
}

#[test]
fn verify_refuses_devices_and_accepts_inputs_that_were_folders() {
    let s = Scratch::new();
    let (a, _) = two_shards(&s);
    let res = mosagg()
        .args(["verify", "/dev/zero"])
        .timeout(Duration::from_secs(20))
        .output()
        .expect("run");
    assert_eq!(res.status.code(), Some(1), "{}", stderr_of(&res));
    assert!(stderr_of(&res).contains("not a regular file"));

    std::fs::create_dir_all(s.path("in/a-folder.jsonl")).expect("mkdir");
    let out = s.path("u.jsonl");
    aggregate_cmd(&[&a, &s.path("in/a-folder.jsonl")], &out)
        .assert()
        .success();
    let res = mosagg()
        .arg("verify")
        .arg(s.path("u.manifest.json"))
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&res.stdout).into_owned();
    assert!(res.status.success(), "{stdout}{}", stderr_of(&res));
    assert!(!stdout.contains("APPEARED"), "{stdout}");
    assert!(stdout.contains("skipped"), "{stdout}");
}

/// A 512 KiB tmpfs, unmounted on drop; None where this user may not mount (not root).
#[cfg(target_os = "linux")]
struct TinyDisk {
    dir: PathBuf,
}

#[cfg(target_os = "linux")]
impl TinyDisk {
    fn mount(at: PathBuf) -> Option<Self> {
        std::fs::create_dir_all(&at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
            .arg(&at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Self { dir: at })
    }
}

#[cfg(target_os = "linux")]
impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

#[test]
#[cfg(target_os = "linux")]
fn full_disks_are_named_and_leave_the_previous_set() {
    let s = Scratch::new();
    let Some(disk) = TinyDisk::mount(s.path("tiny")) else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let (a, b) = two_shards(&s);
    let big_a = big_shard(&s, "in/big_a.jsonl", "konvid-1k", 60_000);
    let big_b = big_shard(&s, "in/big_b.jsonl", "lsvq", 60_000);

    // Outputs on the full disk: the small set fits, the big one cannot.
    let out = disk.dir.join("u.jsonl");
    aggregate_cmd(&[&a, &b], &out).assert().success();
    let before = snapshot(&disk.dir);
    let res = aggregate_cmd(&[&big_a, &big_b], &out)
        .output()
        .expect("run");
    let err = stderr_of(&res);
    assert_eq!(res.status.code(), Some(1), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        err.contains("u.jsonl") || err.contains("u.parquet"),
        "{err}"
    );
    assert_eq!(snapshot(&disk.dir), before);

    // Spill on the full disk: the message names the folder and the flag. 100M is enough
    // for the engine's sort buffers and less than the sorts of 120k rows hold, so it spills.
    let res = aggregate_cmd(&[&big_a, &big_b], &s.path("u.jsonl"))
        .args(["--memory-limit", "100M", "--spill-dir"])
        .arg(&disk.dir)
        .output()
        .expect("run");
    let err = stderr_of(&res);
    assert_eq!(res.status.code(), Some(1), "{err}");
    assert!(err.contains("the disk holding the spill folder"), "{err}");
    assert!(err.contains("--spill-dir"), "{err}");
    assert_eq!(snapshot(&disk.dir), before);
    assert!(leftovers(s.dir.path()).is_empty());
}

/// Two 60k-row shards, and the folders `roomy/` and `tight/` for two runs over them.
fn two_big_shards(s: &Scratch) -> (PathBuf, PathBuf) {
    for dir in ["roomy", "tight"] {
        std::fs::create_dir_all(s.path(dir)).expect("mkdir");
    }
    (
        big_shard(s, "in/big_a.jsonl", "konvid-1k", 60_000),
        big_shard(s, "in/big_b.jsonl", "lsvq", 60_000),
    )
}

/// The runs in `roomy/` and `tight/` wrote the same JSONL and Parquet bytes.
fn assert_same_outputs(s: &Scratch, when: &str) {
    for name in ["u.jsonl", "u.parquet"] {
        assert_eq!(
            std::fs::read(s.path(&format!("roomy/{name}"))).expect("read"),
            std::fs::read(s.path(&format!("tight/{name}"))).expect("read"),
            "{name} differs {when}"
        );
    }
}

/// The numbers of the DEBUG line about the wide row store: (staged, read back a
/// bucket at a time).
fn wide_staging(stderr: &str) -> (u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.contains("wide row store:"))
        .unwrap_or_else(|| panic!("no wide row store line in\n{stderr}"));
    let number_before = |what: &str| -> u64 {
        let head = &line[..line.find(what).unwrap_or_else(|| panic!("{what}: {line}"))];
        let word = head.split_whitespace().last().unwrap_or_default();
        word.parse()
            .unwrap_or_else(|_| panic!("no number before {what}: {line}"))
    };
    (
        number_before(" bytes staged on disk"),
        number_before(" of them read back a bucket at a time"),
    )
}

#[test]
fn descriptive_fields_staged_on_disk_come_back_by_bucket_unchanged() {
    let s = Scratch::new();
    let (big_a, big_b) = two_big_shards(&s);
    let run = |dir: &str, limit: &str| {
        let res = aggregate_cmd(&[&big_a, &big_b], &s.path(&format!("{dir}/u.jsonl")))
            .args(["--memory-limit", limit, "--log-level", "DEBUG"])
            .output()
            .expect("run");
        assert!(res.status.success(), "{}", stderr_of(&res));
        wide_staging(&stderr_of(&res))
    };
    // At 1G every descriptive field stays in memory; at 32M the store keeps 4 MiB and
    // stages the rest, and each bucket's ranking reads its own back whole (every row
    // here has a content hash, so none is read on its own).
    assert_eq!(run("roomy", "1G"), (0, 0));
    let (staged, by_bucket) = run("tight", "32M");
    assert!(staged > 0, "nothing was staged at 32M");
    assert_eq!(by_bucket, staged);
    assert_same_outputs(&s, "when the descriptive fields are staged");
    assert!(leftovers(s.dir.path()).is_empty());
}

/// From a run's DEBUG lines: the rows of the scan's batches when it splits its rows by
/// bucket (`split_scan` of the bucket plan), and the rows spooled in the scan's own
/// batches and gathered row by row.
fn scan_split(stderr: &str) -> (Option<u64>, u64, u64) {
    let line_with = |what: &str| {
        stderr
            .lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what} line in\n{stderr}"))
    };
    let plan = line_with("BucketPlan {");
    let split = plan
        .split("split_scan: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no split_scan in {plan}"));
    let rows = split
        .strip_prefix("Some(")
        .map(|r| r.split(')').next().and_then(|n| n.parse().ok()))
        .map(|n| n.unwrap_or_else(|| panic!("no number in {plan}")));
    let spools = line_with("bucket spools:");
    let numbers: Vec<u64> = spools
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    match numbers[..] {
        [whole, gathered] => (rows, whole, gathered),
        _ => panic!("not two numbers: {spools}"),
    }
}

#[test]
fn the_scan_hands_each_bucket_its_rows_in_batches_of_their_own_at_any_size() {
    let s = Scratch::new();
    let (big_a, big_b) = two_big_shards(&s);
    let rows = 120_000;
    // On two cores: 1G, two buckets and the scan's usual batches of 8192 rows; 200M and
    // 100M, three and six buckets and batches of 6400 and 1828 rows (smaller than the
    // query's own, which it must not join together); 32M, seventeen buckets, too many
    // for batches of 1024 rows within the limit, so every batch is split after the
    // query. More cores make more buckets, and the batches smaller.
    let mut smaller = 0;
    for limit in ["1G", "200M", "100M", "32M"] {
        let dir = format!("split-{limit}");
        std::fs::create_dir_all(s.path(&dir)).expect("mkdir");
        let res = aggregate_cmd(&[&big_a, &big_b], &s.path(&format!("{dir}/u.jsonl")))
            .args(["--memory-limit", limit, "--log-level", "DEBUG"])
            .output()
            .expect("run");
        assert!(res.status.success(), "{}", stderr_of(&res));
        let (split, whole, gathered) = scan_split(&stderr_of(&res));
        assert_eq!(whole + gathered, rows, "{limit}");
        match split {
            // Only each scan worker's last batch of a bucket may be joined to another's.
            Some(batch) => {
                assert!(whole * 10 >= rows * 9, "{limit}: {whole} of {rows} whole");
                smaller += usize::from(batch < 8192);
            }
            None => assert_eq!(whole, 0, "{limit}"),
        }
        for name in ["u.jsonl", "u.parquet"] {
            assert_eq!(
                std::fs::read(s.path(&format!("{dir}/{name}"))).expect("read"),
                std::fs::read(s.path(&format!("split-1G/{name}"))).expect("read"),
                "{name} differs at {limit}"
            );
        }
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    if cores <= 4 {
        assert!(smaller > 0, "no run split its rows in batches under 8192");
    }
    assert!(leftovers(s.dir.path()).is_empty());
}

#[test]
fn a_run_that_spills_says_how_much_and_writes_the_same_bytes() {
    let s = Scratch::new();
    let (big_a, big_b) = two_big_shards(&s);
    let roomy = s.path("roomy/u.jsonl");
    let tight = s.path("tight/u.jsonl");
    let res = aggregate_cmd(&[&big_a, &big_b], &roomy)
        .output()
        .expect("run");
    assert!(res.status.success(), "{}", stderr_of(&res));
    assert!(
        !stderr_of(&res).contains("on disk at once"),
        "{}",
        stderr_of(&res)
    );
    // At 100M a quarter of the limit holds fewer than 120k narrow rows: the buckets spill.
    let res = aggregate_cmd(&[&big_a, &big_b], &tight)
        .args(["--memory-limit", "100M"])
        .output()
        .expect("run");
    let err = stderr_of(&res);
    assert!(res.status.success(), "{err}");
    let said = err
        .lines()
        .find(|l| l.contains("were on disk at once in the spill folder"))
        .unwrap_or_else(|| panic!("no spill report in\n{err}"));
    assert!(said.contains("up to ") && said.contains("B were"), "{said}");
    assert_same_outputs(&s, "when the run spills");
    assert!(leftovers(s.dir.path()).is_empty());
}
