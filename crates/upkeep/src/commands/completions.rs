//! `upkeep completions SHELL`, `upkeep man` and the hidden `upkeep __complete-modules`:
//! what a packager installs beside the binary.
//!
//! `clap_complete`'s scripts complete subcommands and flags. Completing module names needs
//! the manifest at the time of completion, which `clap_complete` offers only behind its
//! `unstable-dynamic` feature (4.6); instead the bash, zsh and fish scripts get a small
//! addition that asks `upkeep __complete-modules` (with the `--manifest`, `--state-dir` and
//! `--config` of the command line being completed) where a command takes module names.
//! Elvish and PowerShell get `clap_complete`'s script as it is.

use std::fmt::Write as _;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Context, print_text};
use crate::cli::Cli;
use crate::error::CliError;

/// Subcommands whose positional arguments are module names.
const TAKES_MODULES: &[&str] = &[
    "run", "plan", "check", "status", "versions", "clear", "rollback", "checksum",
];

/// Flags that name the files `__complete-modules` must be told about.
const PLACES: &[&str] = &["--manifest", "-m", "--state-dir", "--config"];

/// `upkeep completions SHELL`: `clap_complete`'s script, with module names where the shell
/// allows.
pub(crate) fn completions(shell: Shell) -> Result<i32, CliError> {
    print_text(&script(shell))?;
    Ok(upkeep_core::exit_codes::OK)
}

/// The completion script for `shell`.
pub(crate) fn script(shell: Shell) -> String {
    // Into memory first: clap_complete panics on a failed write, and a closed pipe must
    // stay a quiet exit.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "upkeep", &mut script);
    let mut script = String::from_utf8_lossy(&script).into_owned();
    let value_flags = value_flags();
    match shell {
        Shell::Bash => script.push_str(&bash(&value_flags)),
        Shell::Fish => script.push_str(&fish()),
        Shell::Zsh => script = zsh(&script, &value_flags),
        _ => {}
    }
    script
}

/// Every flag that takes a value, of the root and of the subcommands that take module
/// names: after one of these the word being completed is its value, not a module.
fn value_flags() -> Vec<String> {
    let cli = Cli::command();
    let mut commands = vec![&cli];
    commands.extend(
        cli.get_subcommands()
            .filter(|c| TAKES_MODULES.contains(&c.get_name())),
    );
    let mut flags: Vec<String> = commands
        .into_iter()
        .flat_map(clap::Command::get_arguments)
        .filter(|a| !a.is_positional() && a.get_action().takes_values())
        .flat_map(|a| {
            let long = a.get_long().map(|l| format!("--{l}"));
            let short = a.get_short().map(|s| format!("-{s}"));
            long.into_iter().chain(short)
        })
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

/// A bash function that completes module names where a command takes them and hands
/// every other case to `clap_complete`'s `_upkeep`.
fn bash(value_flags: &[String]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"
# Module names from the manifest (`upkeep __complete-modules`) where a command takes them.
_upkeep_modules() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="" word sub="" i places=()
    (( COMP_CWORD > 0 )) && prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    for (( i = 1; i < COMP_CWORD; i++ )); do
        word="${{COMP_WORDS[i]}}"
        case "$word" in
            {places})
                places+=("$word" "${{COMP_WORDS[i+1]}}"); (( i++ )); continue ;;
            {values})
                (( i++ )); continue ;;
            -*) continue ;;
        esac
        [[ -z "$sub" ]] && sub="$word"
    done
    local want=""
    if [[ "$prev" == --module ]]; then
        want=1
    elif [[ "$cur" != -* ]]; then
        case "$sub" in
            {takes})
                case "$prev" in
                    {values}) ;;
                    *) want=1 ;;
                esac ;;
        esac
    fi
    if [[ -n "$want" ]]; then
        local IFS=$'\n'
        COMPREPLY=( $(compgen -W "$("${{COMP_WORDS[0]}}" "${{places[@]}}" __complete-modules 2>/dev/null)" -- "$cur") )
        return 0
    fi
    _upkeep "$@"
}}
if [[ "${{BASH_VERSINFO[0]}}" -eq 4 && "${{BASH_VERSINFO[1]}}" -ge 4 || "${{BASH_VERSINFO[0]}}" -gt 4 ]]; then
    complete -F _upkeep_modules -o nosort -o bashdefault -o default upkeep
else
    complete -F _upkeep_modules -o bashdefault -o default upkeep
fi
"#,
        places = PLACES.join("|"),
        values = value_flags.join("|"),
        takes = TAKES_MODULES.join("|"),
    );
    out
}

/// fish adds completions to those `clap_complete` declared: module names after the
/// subcommands that take them and after `--module`.
fn fish() -> String {
    format!(
        r#"
# Module names from the manifest (`upkeep __complete-modules`) where a command takes them.
function __upkeep_modules
    set -l words (commandline -opc)
    set -l places
    for i in (seq 2 (count $words))
        if contains -- $words[$i] {places}
            set -a places $words[$i] $words[(math $i + 1)]
        end
    end
    $words[1] $places __complete-modules 2>/dev/null
end
complete -c upkeep -n "__fish_seen_subcommand_from {takes}" -f -a "(__upkeep_modules)"
complete -c upkeep -l module -r -f -a "(__upkeep_modules)"
"#,
        places = PLACES.join(" "),
        takes = TAKES_MODULES.join(" "),
    )
}

/// zsh: `clap_complete`'s `_upkeep` is renamed `_upkeep_clap`, and `_upkeep_modules` offers
/// module names where a command takes them, else hands over to it. `clap_complete`'s last
/// lines (call or register `_upkeep`) are replaced by the same for `_upkeep_modules`; if
/// they ever change shape, its script is left as it is.
fn zsh(generated: &str, value_flags: &[String]) -> String {
    const LAST: &str = "if [ \"$funcstack[1]\" = \"_upkeep\" ]; then";
    let Some(end) = generated.rfind(LAST) else {
        return generated.to_owned();
    };
    let renamed = generated[..end].replacen("_upkeep() {", "_upkeep_clap() {", 1);
    format!(
        r#"{renamed}
# Module names from the manifest (`upkeep __complete-modules`) where a command takes them.
_upkeep_modules() {{
    local word sub="" i
    local -a places modules
    for (( i = 2; i < CURRENT; i++ )); do
        word="${{words[i]}}"
        case "$word" in
            ({places}) places+=("$word" "${{words[i+1]}}"); (( i++ )); continue ;;
            ({values}) (( i++ )); continue ;;
            (-*) continue ;;
        esac
        [[ -z "$sub" ]] && sub="$word"
    done
    local prev="${{words[CURRENT-1]}}" cur="${{words[CURRENT]}}"
    if [[ "$prev" == --module ]] || {{ [[ "$cur" != -* ]] && [[ " {takes} " == *" $sub "* ]] && [[ ! "$prev" =~ '^({values})$' ]]; }}; then
        modules=(${{(f)"$("${{words[1]}}" "${{places[@]}}" __complete-modules 2>/dev/null)"}})
        compadd -a modules && return 0
    fi
    _upkeep_clap "$@"
}}

if [ "$funcstack[1]" = "_upkeep" ]; then
    _upkeep_modules "$@"
else
    compdef _upkeep_modules upkeep
fi
"#,
        places = PLACES.join("|"),
        values = value_flags.join("|"),
        takes = TAKES_MODULES.join(" "),
    )
}

/// `upkeep man`: the manual page on stdout, or with `--dir`, `upkeep.1` and one page per
/// subcommand (`upkeep-run.1`, ...) written there.
pub(crate) fn man(dir: Option<&Path>) -> Result<i32, CliError> {
    let command = Cli::command();
    match dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .map_err(io("render the manual page"))?;
            print_text(&String::from_utf8_lossy(&page))?;
        }
        Some(dir) => {
            fs_err::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
            clap_mangen::generate_to(command, dir)
                .map_err(io(format!("write manual pages to {}", dir.display())))?;
        }
    }
    Ok(upkeep_core::exit_codes::OK)
}

/// `upkeep __complete-modules`: the manifest's module names, one a line, for the
/// completion scripts. A manifest that cannot be read completes nothing, silently: a
/// shell's completion must never print errors into the command line being typed.
pub(crate) fn complete_modules(ctx: &Context) -> Result<i32, CliError> {
    if let Ok(manifest) = ctx.ops.manifest() {
        let mut names = String::new();
        for name in manifest.names() {
            names.push_str(name);
            names.push('\n');
        }
        print_text(&names)?;
    }
    Ok(upkeep_core::exit_codes::OK)
}

fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
    let action = action.into();
    move |source| upkeep_core::ops::Error::Io { action, source }.into()
}
