//! Running the seeds' Python modules.
//!
//! upkeep starts the interpreter with a small bootstrap that makes the manifest's directory
//! an importable package (so `from ..utils.index import x` works inside `adblock/index.py`,
//! as in the seeds' layout, whatever the directory is called), imports the module by its
//! dotted path, and calls `setup(old_version)` when the module defines it (Plinth) or else
//! `main(args)`. An uncaught exception prints its traceback to the module's log and exits 1.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The bootstrap passed to `python -c`. argv: root directory, dotted module path.
/// `UPKEEP_ARGS` holds `main`'s arguments as JSON; `UPKEEP_SETUP_OLD_VERSION` holds the
/// previously applied version as JSON (`null` on first setup).
///
/// With the single argument `--wait` it is a warm start (see [`super::warm`]): it waits for
/// the go message on its standard input before anything else, and exits at end of file
/// without one.
pub const BOOTSTRAP: &str = r#"
import os, sys
if sys.argv[1:] == ["--wait"]:
    # Standard input is a socket: say which interpreter this is (upkeep resolves a
    # version-manager shim by it; otherwise nobody may be listening), then wait for the
    # go message.
    try:
        os.write(0, os.fsencode(sys.executable) + b"\0")
    except OSError:
        pass
    message = b""
    while True:
        chunk = os.read(0, 65536)
        if not chunk:
            break
        message += chunk
    fields = message.split(b"\0")
    if fields[0] != b"go" or len(fields) < 5:
        os._exit(0)
    cwd, log, root, dotted = fields[1:5]
    for pair in fields[5:]:
        key, _, value = pair.partition(b"=")
        if key:
            os.environb[key] = value
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    if log:
        sys.stdout.flush()
        sys.stderr.flush()
        out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
    os.chdir(cwd)
    sys.argv[1:] = [os.fsdecode(root), os.fsdecode(dotted)]
def _value(text, default):
    # The common values need no json import (which alone costs several milliseconds).
    if text is None or text == default:
        return None if default == "null" else []
    if text.isdigit():
        return int(text)
    if text[:1] == '"' and text[-1:] == '"' and "\\" not in text:
        return text[1:-1]
    import json
    return json.loads(text)
root, dotted = sys.argv[1], sys.argv[2]
base = os.path.basename(os.path.normpath(root))
# Importing `keyword` and `importlib` would cost a millisecond at every module start.
KEYWORDS = {"False", "None", "True", "and", "as", "assert", "async", "await", "break",
            "class", "continue", "def", "del", "elif", "else", "except", "finally", "for",
            "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or",
            "pass", "raise", "return", "try", "while", "with", "yield"}
pkg = base if base.isidentifier() and base not in KEYWORDS else "updates"
package = type(sys)(pkg)
package.__path__ = [root]
package.__package__ = pkg
init = os.path.join(root, "__init__.py")
package.__file__ = init
sys.modules[pkg] = package
if os.path.isfile(init):
    with open(init, "rb") as source:
        exec(compile(source.read(), init, "exec"), package.__dict__)
sys.path.insert(0, root)
sys.argv = [os.path.join(root, *dotted.split("."))]
def _run():
    name = pkg + "." + dotted
    __import__(name)
    module = sys.modules[name]
    if callable(getattr(module, "setup", None)):
        module.setup(_value(os.environ.get("UPKEEP_SETUP_OLD_VERSION"), "null"))
    elif callable(getattr(module, "main", None)):
        module.main(_value(os.environ.get("UPKEEP_ARGS"), "[]"))
    else:
        sys.exit("upkeep: module %s defines neither main(args) nor setup(old_version)" % dotted)
try:
    _run()
except SystemExit:
    raise
except BaseException as error:
    # The traceback starts in the module's code, not in this bootstrap.
    import traceback
    tb = error.__traceback__.tb_next
    traceback.print_exception(type(error), error, tb.tb_next or tb)
    sys.exit(1)
"#;

/// The interpreter a manifest asks for, before shims are resolved: the manifest's `python`
/// setting (relative to its directory when it contains a `/`), else `venv/bin/python`
/// beside the manifest (the seeds' layout), else `python3` from `PATH`.
pub fn configured_interpreter(root: &Path, setting: Option<&str>) -> PathBuf {
    if let Some(setting) = setting {
        return if setting.contains('/') {
            root.join(setting)
        } else {
            PathBuf::from(setting)
        };
    }
    let venv = root.join("venv").join("bin").join("python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// Look a bare program name up in `PATH`.
pub fn which(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return Some(program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Whether `path` is a script (starts with `#!`), as version-manager shims are.
pub fn is_script(path: &Path) -> bool {
    let mut head = [0u8; 2];
    fs_err::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && head == *b"#!"
}

/// The argv that runs `module` with `interpreter`.
pub fn argv(interpreter: &Path, root: &Path, module: &str) -> Vec<OsString> {
    vec![
        interpreter.as_os_str().to_owned(),
        OsString::from("-c"),
        OsString::from(BOOTSTRAP),
        root.as_os_str().to_owned(),
        OsString::from(module),
    ]
}
