//! Product categories: one tree for the whole shop, kept in one stream (`category-global`), so
//! that every decision about the tree (slugs unique, parents that exist, no cycles, a bounded
//! depth) sees all of it at once. Admins define (create, rename, move, reorder) and remove
//! categories; products name the slug of the category they belong to.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DomainEvent};
use crate::pricing::Global;
use crate::text::CategoryName;
use crate::values::ValueError;

/// A category's identity and its URL segment: 1-64 of `a-z 0-9 -`, starting and ending with
/// a letter or digit (`kitchen`, `mugs-and-cups`). It never changes; the name does.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CategorySlug(String);

impl CategorySlug {
    /// Longest slug.
    pub const MAX_LEN: usize = 64;

    /// Validates a slug.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let bytes = raw.as_bytes();
        let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let ok = (1..=Self::MAX_LEN).contains(&raw.len())
            && bytes.iter().all(|b| alnum(b) || *b == b'-')
            && bytes.first().is_some_and(alnum)
            && bytes.last().is_some_and(alnum);
        if ok {
            Ok(CategorySlug(raw.to_owned()))
        } else {
            Err(ValueError::InvalidCategory(raw.chars().take(80).collect()))
        }
    }

    /// A slug taken from a recorded event: facts are not re-validated.
    pub fn from_recorded(raw: String) -> Self {
        CategorySlug(raw)
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CategorySlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a category sits among its siblings (lower first): 0 to [`Position::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position(u32);

impl Position {
    /// Largest position.
    pub const MAX: u32 = 100_000;

    /// Validates a position.
    pub fn new(raw: i64) -> Result<Self, ValueError> {
        if (0..=i64::from(Self::MAX)).contains(&raw) {
            Ok(Position(raw as u32))
        } else {
            Err(ValueError::InvalidPosition(raw))
        }
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// Most categories in the tree.
pub const MAX_CATEGORIES: usize = 2_000;
/// Most levels from a root to a leaf (a root is level 1).
pub const MAX_DEPTH: usize = 6;

/// Commands on the category tree.
#[derive(Debug, Clone, PartialEq)]
pub enum CategoryCommand {
    /// Create a category, or rename, move or reorder an existing one.
    Define {
        /// Its slug.
        slug: CategorySlug,
        /// Display name.
        name: CategoryName,
        /// The parent (`None`: a root).
        parent: Option<CategorySlug>,
        /// Place among its siblings.
        position: Position,
    },
    /// Remove a category that has no children.
    Remove {
        /// Its slug.
        slug: CategorySlug,
    },
}

/// Events of the category tree.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum CategoryEvent {
    /// A category was created, or its name, parent or position changed; every field holds
    /// its new value.
    CategoryDefined {
        /// Its slug.
        slug: CategorySlug,
        /// Display name.
        name: String,
        /// The parent's slug (`null`: a root).
        parent: Option<CategorySlug>,
        /// Place among its siblings (lower first).
        position: u32,
    },
    /// A category (without children) was removed. Products that named it keep the slug.
    CategoryRemoved {
        /// Its slug.
        slug: CategorySlug,
    },
}

impl DomainEvent for CategoryEvent {
    fn event_type(&self) -> &'static str {
        match self {
            CategoryEvent::CategoryDefined { .. } => "CategoryDefined",
            CategoryEvent::CategoryRemoved { .. } => "CategoryRemoved",
        }
    }
}

/// Why a change to the tree was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CategoryError {
    /// No category has this slug.
    #[error("no category {0}")]
    NotFound(CategorySlug),
    /// The parent named does not exist.
    #[error("no parent category {0}")]
    ParentNotFound(CategorySlug),
    /// The move would put a category under itself or one of its descendants.
    #[error("category {0} cannot be placed under itself or its descendants")]
    Cycle(CategorySlug),
    /// The tree would grow deeper than [`MAX_DEPTH`].
    #[error("categories nest at most {MAX_DEPTH} levels deep")]
    TooDeep,
    /// The tree holds [`MAX_CATEGORIES`] already.
    #[error("the shop has {MAX_CATEGORIES} categories already")]
    TooMany,
    /// A category with children cannot be removed: move or remove them first.
    #[error("category {0} has subcategories")]
    HasChildren(CategorySlug),
}

impl CategoryError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CategoryError::NotFound(_) => "category_not_found",
            CategoryError::ParentNotFound(_) => "parent_category_not_found",
            CategoryError::Cycle(_) => "category_cycle",
            CategoryError::TooDeep => "category_too_deep",
            CategoryError::TooMany => "too_many_categories",
            CategoryError::HasChildren(_) => "category_has_children",
        }
    }
}

/// One category of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Display name.
    pub name: String,
    /// Parent, if any.
    pub parent: Option<CategorySlug>,
    /// Place among its siblings.
    pub position: u32,
}

/// The whole tree, as rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CategoryTree {
    /// Every category by slug.
    pub categories: BTreeMap<CategorySlug, Category>,
}

impl CategoryTree {
    /// Whether `slug` names a category.
    pub fn contains(&self, slug: &CategorySlug) -> bool {
        self.categories.contains_key(slug)
    }

    /// The chain from `slug` up to its root, `slug` first (bounded, so a corrupt log cannot
    /// loop).
    pub fn ancestry<'a>(&'a self, slug: &'a CategorySlug) -> Vec<&'a CategorySlug> {
        let mut chain = vec![slug];
        let mut at = slug;
        while let Some(parent) = self.categories.get(at).and_then(|c| c.parent.as_ref()) {
            if chain.len() > MAX_CATEGORIES {
                break;
            }
            chain.push(parent);
            at = parent;
        }
        chain
    }

    /// Levels below `slug`, itself included (a leaf is 1).
    fn height(&self, slug: &CategorySlug) -> usize {
        1 + self
            .categories
            .iter()
            .filter(|(_, c)| c.parent.as_ref() == Some(slug))
            .map(|(child, _)| self.height(child))
            .max()
            .unwrap_or(0)
    }
}

impl Aggregate for CategoryTree {
    type Id = Global;
    type Command = CategoryCommand;
    type Event = CategoryEvent;
    type Error = CategoryError;
    const CATEGORY: &'static str = "category";

    fn decide(&self, command: CategoryCommand) -> Result<Vec<CategoryEvent>, CategoryError> {
        match command {
            CategoryCommand::Define {
                slug,
                name,
                parent,
                position,
            } => {
                let existing = self.categories.get(&slug);
                if existing.is_none() && self.categories.len() >= MAX_CATEGORIES {
                    return Err(CategoryError::TooMany);
                }
                let depth_above = match &parent {
                    None => 0,
                    Some(p) if !self.contains(p) => {
                        return Err(CategoryError::ParentNotFound(p.clone()))
                    }
                    Some(p) => {
                        let ancestry = self.ancestry(p);
                        if ancestry.contains(&&slug) {
                            return Err(CategoryError::Cycle(slug));
                        }
                        ancestry.len()
                    }
                };
                let height = if existing.is_some() {
                    self.height(&slug)
                } else {
                    1
                };
                if depth_above + height > MAX_DEPTH {
                    return Err(CategoryError::TooDeep);
                }
                let unchanged = existing.is_some_and(|c| {
                    c.name == name.as_str() && c.parent == parent && c.position == position.get()
                });
                if unchanged {
                    return Ok(vec![]);
                }
                Ok(vec![CategoryEvent::CategoryDefined {
                    slug,
                    name: name.into(),
                    parent,
                    position: position.get(),
                }])
            }
            CategoryCommand::Remove { slug } => {
                if !self.contains(&slug) {
                    return Err(CategoryError::NotFound(slug));
                }
                if self
                    .categories
                    .values()
                    .any(|c| c.parent.as_ref() == Some(&slug))
                {
                    return Err(CategoryError::HasChildren(slug));
                }
                Ok(vec![CategoryEvent::CategoryRemoved { slug }])
            }
        }
    }

    fn apply(&mut self, event: &CategoryEvent) {
        match event {
            CategoryEvent::CategoryDefined {
                slug,
                name,
                parent,
                position,
            } => {
                self.categories.insert(
                    slug.clone(),
                    Category {
                        name: name.clone(),
                        parent: parent.clone(),
                        position: *position,
                    },
                );
            }
            CategoryEvent::CategoryRemoved { slug } => {
                self.categories.remove(slug);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slug(s: &str) -> CategorySlug {
        CategorySlug::parse(s).unwrap()
    }
    fn define(s: &str, parent: Option<&str>) -> CategoryCommand {
        CategoryCommand::Define {
            slug: slug(s),
            name: CategoryName::parse(&s.to_uppercase()).unwrap(),
            parent: parent.map(slug),
            position: Position::default(),
        }
    }
    fn tree(commands: &[CategoryCommand]) -> CategoryTree {
        let mut tree = CategoryTree::default();
        for c in commands {
            for e in tree.decide(c.clone()).unwrap() {
                tree.apply(&e);
            }
        }
        tree
    }

    #[test]
    fn slugs_are_lowercase_words_joined_by_hyphens() {
        for good in ["kitchen", "mugs-and-cups", "a", "x1"] {
            assert!(CategorySlug::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Kitchen",
            "-a",
            "a-",
            "a b",
            "a/b",
            "ä",
            &"a".repeat(65),
        ] {
            assert_eq!(
                CategorySlug::parse(bad).unwrap_err().code(),
                "invalid_category",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_tree_is_built_renamed_and_moved() {
        let t = tree(&[define("home", None), define("kitchen", Some("home"))]);
        assert_eq!(
            t.ancestry(&slug("kitchen")),
            vec![&slug("kitchen"), &slug("home")]
        );
        // Defining the same again is a no-op; a rename is an event.
        assert_eq!(t.decide(define("kitchen", Some("home"))), Ok(vec![]));
        let renamed = t
            .decide(CategoryCommand::Define {
                slug: slug("kitchen"),
                name: CategoryName::parse("Kitchen & dining").unwrap(),
                parent: None,
                position: Position::new(3).unwrap(),
            })
            .unwrap();
        assert_eq!(
            renamed,
            vec![CategoryEvent::CategoryDefined {
                slug: slug("kitchen"),
                name: "Kitchen & dining".into(),
                parent: None,
                position: 3
            }]
        );
    }

    #[test]
    fn parents_exist_and_no_category_goes_under_itself() {
        let t = tree(&[
            define("home", None),
            define("kitchen", Some("home")),
            define("mugs", Some("kitchen")),
        ]);
        assert_eq!(
            t.decide(define("x", Some("nope"))),
            Err(CategoryError::ParentNotFound(slug("nope")))
        );
        assert_eq!(
            t.decide(define("home", Some("mugs"))),
            Err(CategoryError::Cycle(slug("home")))
        );
        assert_eq!(
            t.decide(define("home", Some("home"))),
            Err(CategoryError::Cycle(slug("home")))
        );
    }

    #[test]
    fn the_tree_is_at_most_six_levels_deep_also_when_a_subtree_moves() {
        let names = ["l1", "l2", "l3", "l4", "l5", "l6"];
        let mut commands = vec![define("l1", None)];
        for w in names.windows(2) {
            commands.push(define(w[1], Some(w[0])));
        }
        let t = tree(&commands);
        assert_eq!(
            t.decide(define("l7", Some("l6"))),
            Err(CategoryError::TooDeep)
        );
        // A two-level subtree moved under level 5 would reach level 7.
        let t = tree(
            &[
                commands.clone(),
                vec![define("s1", None), define("s2", Some("s1"))],
            ]
            .concat(),
        );
        assert_eq!(
            t.decide(define("s1", Some("l5"))),
            Err(CategoryError::TooDeep)
        );
        assert!(t.decide(define("s1", Some("l4"))).is_ok());
    }

    #[test]
    fn only_leaves_are_removed() {
        let t = tree(&[define("home", None), define("kitchen", Some("home"))]);
        assert_eq!(
            t.decide(CategoryCommand::Remove { slug: slug("home") }),
            Err(CategoryError::HasChildren(slug("home")))
        );
        let removed = t
            .decide(CategoryCommand::Remove {
                slug: slug("kitchen"),
            })
            .unwrap();
        let mut t = t;
        t.apply(&removed[0]);
        assert!(!t.contains(&slug("kitchen")));
        assert_eq!(
            t.decide(CategoryCommand::Remove {
                slug: slug("kitchen")
            }),
            Err(CategoryError::NotFound(slug("kitchen")))
        );
    }
}
