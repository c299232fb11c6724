//! Hostile workflow files: the reproductions of issue 17 ("The workflow
//! language"), as texts, shared by the end-to-end regression tests
//! (`tests/hostile.rs`: exit codes, messages, memory) and the benchmark that
//! times them (`benches/hostile.rs`).
//!
//! Before the fixes these aborted on a stack overflow (20,000 unary minuses,
//! 30,000 `not`, `1 +` or `~`), panicked in miette (a diagnostic past
//! column 65,535), took gigabytes (`tojson(indent=999999999)`,
//! `[1] * 99999999`) or minutes (`5 in ([1] * 99999999)`, 20,000 dead steps,
//! 200,000 keys in one map).

/// One hostile workflow file.
#[derive(Debug, Clone)]
pub struct Case {
    /// A short name (the file is `<name>.yaml`).
    pub name: &'static str,
    /// The whole file.
    pub text: String,
    /// Whether the file is valid (it may still fail when it runs).
    pub valid: bool,
}

/// A workflow with one `core.log` step, an optional `if` and a message.
fn one_step(condition: Option<&str>, message: &str) -> String {
    let condition = condition.map_or_else(String::new, |condition| {
        format!("    if: \"{condition}\"\n")
    });
    format!(
        "name: hostile\nsteps:\n  a:\n    uses: core.log\n{condition}    with:\n      message: \"{message}\"\n"
    )
}

/// Every reproduction, at the size the issue reported.
pub fn cases() -> Vec<Case> {
    let expression = |inner: String| format!("${{{{ {inner} }}}}");
    vec![
        Case {
            name: "deep-unary-minus",
            text: one_step(None, &expression(format!("{}1", "-".repeat(20_000)))),
            valid: false,
        },
        Case {
            name: "deep-not",
            text: one_step(Some(&expression(format!("{}true", "not ".repeat(30_000)))), "hi"),
            valid: false,
        },
        Case {
            name: "long-sum",
            text: one_step(None, &expression(format!("{}1", "1 + ".repeat(30_000)))),
            valid: false,
        },
        Case {
            name: "long-concatenation",
            text: one_step(
                None,
                &expression(vec!["'a'"; 20_000].join(" ~ ")),
            ),
            valid: false,
        },
        Case {
            name: "wide-line",
            text: format!("{}: 1\n", "a".repeat(70_000)),
            valid: false,
        },
        Case {
            name: "tojson-indent",
            text: one_step(
                Some(&expression("[1, 2, 3] | tojson(indent=999999999)".to_owned())),
                "hi",
            ),
            valid: true,
        },
        Case {
            name: "list-repetition-in-with",
            text: "name: hostile\nsteps:\n  a:\n    uses: core.set\n    with:\n      x: ${{ [1] * 99999999 }}\n".to_owned(),
            valid: true,
        },
        Case {
            name: "membership-in-a-repetition",
            text: one_step(Some(&expression("5 in ([1] * 99999999)".to_owned())), "hi"),
            valid: true,
        },
        Case {
            name: "dead-chain",
            text: dead_chain(20_000),
            valid: true,
        },
        Case {
            name: "wide-map",
            text: wide_map(200_000),
            valid: true,
        },
    ]
}

/// `steps` long chain of steps, each needing the one before, the first
/// with `if: false`: one "never runs" warning per step.
pub fn dead_chain(steps: usize) -> String {
    let mut text = String::from(
        "name: chain\nsteps:\n  s0:\n    uses: core.log\n    if: false\n    with:\n      message: hi\n",
    );
    for step in 1..steps {
        text.push_str(&format!(
            "  s{step}:\n    uses: core.log\n    needs: [s{}]\n    with:\n      message: hi\n",
            step - 1
        ));
    }
    text
}

/// One `core.set` step whose `with` has `keys` keys, each an expression.
pub fn wide_map(keys: usize) -> String {
    let mut text = String::from("name: keys\nsteps:\n  a:\n    uses: core.set\n    with:\n");
    for key in 0..keys {
        text.push_str(&format!("      k{key}: ${{{{ {key} }}}}\n"));
    }
    text
}
