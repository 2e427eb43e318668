//! The Python around the engines: the PyTorch reference's table and record reading
//! (`bench/reference/pytorch_step.py`), tested without torch by
//! `tests/reference/test_pytorch_step.py` (Python's unittest).

use std::path::Path;
use std::process::Command;

#[test]
fn the_pytorch_reference_tables_and_record_reading_pass_their_unit_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(root.join("tests/reference/test_pytorch_step.py"))
        .output()
        .expect("python3 is needed by the tests (make test's virtual environment has it)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
