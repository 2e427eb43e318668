fn main() {
    let path = std::env::args().nth(1).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let r: Result<batchbench::suite::SuiteFile, _> = serde_saphyr::from_str(&text);
    if let Err(e) = r {
        println!(
            "DISPLAY: {e}\nWITHOUT: {}\nDEBUG: {:?}",
            e.without_snippet(),
            e.without_snippet()
        );
    }
}
