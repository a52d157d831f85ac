//! Compiles every `.proto` file under the repository's `proto/` folder with
//! protox (no protoc needed), generates prost messages and tonic clients and
//! servers into OUT_DIR, and keeps the encoded descriptor set for reflection.

use std::path::{Path, PathBuf};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let proto_root = proto_root.canonicalize()?;
    let mut files = Vec::new();
    collect_proto_files(&proto_root, &mut files)?;
    files.sort();

    println!("cargo:rerun-if-changed={}", proto_root.display());
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let descriptor_set = protox::Compiler::new([&proto_root])?
        .include_imports(true)
        .include_source_info(true)
        .open_files(&files)?
        .file_descriptor_set();

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("bss_descriptor.bin"), descriptor_set.encode_to_vec())?;

    // Every message knows its full name (`prost::Name`), so a tool can find
    // its descriptor (bssctl prints any message through it).
    let mut config = prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Maps encode in key order, so a request hashes the same on every
        // retry (idempotency compares request hashes).
        .btree_map(".")
        .compile_fds_with_config(descriptor_set, config)?;
    Ok(())
}

fn collect_proto_files(folder: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(folder)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_proto_files(&path, files)?;
        } else if path.extension().is_some_and(|extension| extension == "proto") {
            files.push(path);
        }
    }
    Ok(())
}
