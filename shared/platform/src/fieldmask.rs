//! Update masks (AIP-134): which fields of a resource an update writes.

use crate::error::Violations;

/// The paths of `mask`, with `*` expanded to every writable path. Unknown
/// and output-only paths, and an empty mask, are violations of
/// `update_mask`.
pub fn writable_paths<'a>(
    mask: Option<&'a prost_types::FieldMask>,
    writable: &'a [&'a str],
) -> Result<Vec<&'a str>, Violations> {
    let paths: Vec<&str> = mask.map(|mask| mask.paths.iter().map(String::as_str).collect()).unwrap_or_default();
    if paths.is_empty() {
        return Err(Violations::single("update_mask", "name at least one field to update, or \"*\""));
    }
    if paths.contains(&"*") {
        return Ok(writable.to_vec());
    }
    let mut violations = Violations::new();
    for path in &paths {
        if !writable.contains(path) {
            violations.add("update_mask", format!("{path:?} is not a writable field"));
        }
    }
    violations.into_result()?;
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(paths: &[&str]) -> prost_types::FieldMask {
        prost_types::FieldMask { paths: paths.iter().map(|path| (*path).to_owned()).collect() }
    }

    #[test]
    fn a_star_means_every_writable_field() {
        let writable = ["name", "email"];
        assert_eq!(writable_paths(Some(&mask(&["*"])), &writable), Ok(vec!["name", "email"]));
        assert_eq!(writable_paths(Some(&mask(&["email"])), &writable), Ok(vec!["email"]));
    }

    #[test]
    fn unknown_paths_and_empty_masks_are_refused() {
        let writable = ["name"];
        assert!(writable_paths(Some(&mask(&["id"])), &writable).is_err());
        assert!(writable_paths(Some(&mask(&[])), &writable).is_err());
        assert!(writable_paths(None, &writable).is_err());
    }
}
