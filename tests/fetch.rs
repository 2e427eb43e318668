//! `batchbench data fetch`: downloads are verified against the published SHA-256
//! before anything is saved (checked against a local mirror serving wrong bytes).

use std::io::{Read, Write};
use std::net::TcpListener;

mod common;
use common::batchbench;

/// Serves `body` for every request on a local port; returns the base URL.
fn serve(body: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        }
    });
    format!("http://{addr}")
}

#[test]
fn a_download_with_the_wrong_checksum_is_refused_and_not_saved() {
    let mirror = serve(b"not the dataset");
    let dir = tempfile::tempdir().unwrap();
    let out = batchbench()
        .env("BATCHBENCH_DATA_MIRROR", &mirror)
        .args(["data", "fetch", "mnist", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not match the published 440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"), "{err}");
    assert!(err.contains("the file was not saved"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn datasets_that_need_no_download_say_so() {
    let out = batchbench()
        .args(["data", "fetch", "digits", "--dir", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("digits needs no download: it is embedded in batchbench")
    );
}

#[test]
fn a_cifar10_archive_with_the_wrong_md5_is_refused_and_not_saved() {
    let mirror = serve(b"not the archive");
    let dir = tempfile::tempdir().unwrap();
    let out = batchbench()
        .env("BATCHBENCH_DATA_MIRROR", &mirror)
        .args(["data", "fetch", "cifar10", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/cifar10/cifar-10-binary.tar.gz"), "{err}");
    assert!(
        err.contains("does not match the published c32a1d4ab5d03f1284b67883e8d87530"),
        "{err}"
    );
    assert!(err.contains("the file was not saved"), "{err}");
    assert!(!dir.path().join("cifar-10-binary.tar.gz").exists());
}
