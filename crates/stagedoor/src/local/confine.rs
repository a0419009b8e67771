//! The one confinement check of the local catalog: a path is read (or walked, or watched)
//! only when its canonical form — every symlink resolved — lies inside the catalog root.
//!
//! Used by the directory scan, Location targets (glob expansion and each resolved file),
//! placeholders and TechDocs, so a symlink named `catalog-info.yaml` pointing at
//! `/etc/passwd`, or a symlinked directory pointing at `/`, is never followed out.

use std::path::{Path, PathBuf};

/// Why a path is not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// It could not be resolved (missing, unreadable, a dangling link).
    Unresolved(String),
    /// It resolves outside every root.
    Outside(PathBuf),
}

/// `path` made canonical when it lies inside one of `roots` (canonical directories).
pub(crate) fn resolve_inside(path: &Path, roots: &[&Path]) -> Result<PathBuf, Refused> {
    let canon = path
        .canonicalize()
        .map_err(|e| Refused::Unresolved(e.to_string()))?;
    if roots.iter().any(|r| canon.starts_with(r)) {
        Ok(canon)
    } else {
        Err(Refused::Outside(canon))
    }
}

/// Whether a directory walk may enter or yield `entry`: anything that is not a symlink, and
/// symlinks whose target resolves inside `root`.
pub(crate) fn walk_keeps(entry: &walkdir::DirEntry, root: &Path) -> bool {
    !entry.path_is_symlink() || resolve_inside(entry.path(), &[root]).is_ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::symlink;

    use super::super::tests::{Dir, component, config};
    use super::super::*;

    fn served(c: &LocalCatalog, name: &str) -> bool {
        let r = EntityRef::parse(&format!("component:default/{name}"), None, None).unwrap();
        c.entity(&r).is_ok()
    }

    fn problems(c: &LocalCatalog) -> Vec<String> {
        c.snapshot()
            .problems
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn symlinks_out_of_the_root_are_neither_read_nor_walked() {
        let root = Dir::new("confine-root");
        let outside = Dir::new("confine-outside");
        root.write("catalog-info.yaml", &component("inside", ""));
        outside.write("catalog-info.yaml", &component("outside", ""));
        outside.write("nested/catalog-info.yaml", &component("outside-dir", ""));
        std::fs::create_dir_all(root.0.join("file")).unwrap();
        // A file link, a directory link, a link to `/` and one to /etc/passwd.
        symlink(
            outside.0.join("catalog-info.yaml"),
            root.0.join("file/catalog-info.yaml"),
        )
        .unwrap();
        symlink(outside.0.join("nested"), root.0.join("dir")).unwrap();
        symlink("/", root.0.join("slash")).unwrap();
        std::fs::create_dir_all(root.0.join("passwd")).unwrap();
        symlink("/etc/passwd", root.0.join("passwd/catalog-info.yaml")).unwrap();
        let c = LocalCatalog::load(config(&[&root.0]));
        assert!(served(&c, "inside"));
        assert!(!served(&c, "outside"));
        assert!(!served(&c, "outside-dir"));
        assert_eq!(c.snapshot().len(), 1);
        let p = problems(&c);
        for link in [
            "file/catalog-info.yaml",
            "dir",
            "slash",
            "passwd/catalog-info.yaml",
        ] {
            let at = root.0.join(link).display().to_string();
            assert!(
                p.iter()
                    .any(|m| m.starts_with(&at) && m.contains("outside the catalog root")),
                "{link}: {p:?}"
            );
        }
        assert!(!p.iter().any(|m| m.contains("root:x:0")), "{p:?}");
        // Nothing outside was recorded as read (the watcher watches what was read).
        for read in &c.snapshot().read {
            assert!(read.starts_with(&root.0), "{}", read.display());
        }
    }

    #[test]
    fn symlinks_that_stay_inside_the_root_are_followed() {
        let root = Dir::new("confine-inside");
        root.write("real/catalog-info.yaml", &component("real", ""));
        std::fs::create_dir_all(root.0.join("links")).unwrap();
        symlink(root.0.join("real"), root.0.join("links/alias")).unwrap();
        let c = LocalCatalog::load(config(&[&root.0.join("links")]));
        // Scanning `links/` alone: the alias resolves to `real/`, outside that scan root.
        assert!(!served(&c, "real"));
        let c = LocalCatalog::load(config(&[&root.0]));
        assert!(served(&c, "real"));
        assert!(problems(&c).is_empty(), "{:?}", problems(&c));
    }

    #[test]
    fn location_globs_do_not_walk_out_through_symlinks() {
        let root = Dir::new("confine-loc");
        let outside = Dir::new("confine-loc-outside");
        outside.write("x/catalog-info.yaml", &component("far", ""));
        symlink(&outside.0, root.0.join("out")).unwrap();
        root.write(
            "all.yaml",
            "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: all\nspec:\n  targets:\n    - ./**/catalog-info.yaml\n",
        );
        let c = LocalCatalog::load(config(&[&root.0.join("all.yaml")]));
        assert!(!served(&c, "far"));
    }
}
