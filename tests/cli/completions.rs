//! `mosagg completions SHELL`: scripts generated from the real command definitions.

use crate::common::mosagg;

fn script(shell: &str) -> String {
    let o = mosagg().args(["completions", shell]).output().expect("run");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8")
}

#[test]
fn bash_script_is_valid_and_knows_every_subcommand_and_flag() {
    let text = script("bash");
    assert!(text.contains("_mosagg()"), "{text}");
    for word in [
        "aggregate",
        "run",
        "merge",
        "verify",
        "completions",
        "--scales",
        "--dry-run",
        "--required-keys",
    ] {
        assert!(text.contains(word), "bash completion lacks {word}");
    }
    // bash -n parses without running: the script must at least be syntactically sound.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mosagg.bash");
    std::fs::write(&path, &text).expect("write");
    let status = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .status()
        .expect("bash is needed to check the bash completion");
    assert!(status.success());
}

#[test]
fn zsh_and_fish_scripts_name_the_tool() {
    let zsh = script("zsh");
    assert!(zsh.starts_with("#compdef mosagg"), "{zsh}");
    assert!(zsh.contains("--workdir"));
    let fish = script("fish");
    assert!(fish.contains("complete -c mosagg"), "{fish}");
    assert!(fish.contains("merge"));
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let o = mosagg()
        .args(["completions", "tcsh"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
}
