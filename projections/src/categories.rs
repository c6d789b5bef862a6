//! The category tree of the catalog read model (`catalog_categories`), kept by
//! [`crate::catalog::CatalogProjection`] from the `category-global` stream.
//!
//! Each row keeps its materialized path (`home/kitchen/mugs`): a subtree is every row whose
//! path is the root's or starts with the root's path and `/`. Slugs hold only `a-z 0-9 -`, so
//! a path never holds a `LIKE` wildcard. The stream is one aggregate's, delivered in order, so
//! a parent's row exists before its children's.

use domain::category::CategoryEvent;
use events::RecordedEvent;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::projection::{decode_known, ProjectionError};

pub(crate) async fn apply(
    tx: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let Some(category) = decode_known::<CategoryEvent>(event)? else {
        return Ok(());
    };
    match category {
        CategoryEvent::CategoryDefined {
            slug,
            name,
            parent,
            position,
        } => {
            let parent_path: Option<(String,)> = match &parent {
                Some(p) => {
                    sqlx::query_as("select path from catalog_categories where slug = $1")
                        .bind(p.as_str())
                        .fetch_optional(&mut *tx)
                        .await?
                }
                None => None,
            };
            let path = match parent_path {
                Some((above,)) => format!("{above}/{slug}"),
                None => slug.to_string(),
            };
            let old: Option<(String,)> =
                sqlx::query_as("select path from catalog_categories where slug = $1")
                    .bind(slug.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            sqlx::query(
                "insert into catalog_categories (slug, name, parent, position, path)
                 values ($1, $2, $3, $4, $5)
                 on conflict (slug) do update set name = excluded.name, parent = excluded.parent,
                   position = excluded.position, path = excluded.path",
            )
            .bind(slug.as_str())
            .bind(&name)
            .bind(parent.as_ref().map(|p| p.as_str()))
            .bind(i64::from(position))
            .bind(&path)
            .execute(&mut *tx)
            .await?;
            // A move carries the whole subtree along.
            if let Some((old,)) = old.filter(|(old,)| *old != path) {
                sqlx::query(
                    "update catalog_categories set path = $2 || substr(path, length($1) + 1)
                     where path like $1 || '/%'",
                )
                .bind(&old)
                .bind(&path)
                .execute(&mut *tx)
                .await?;
            }
        }
        CategoryEvent::CategoryRemoved { slug } => {
            sqlx::query("delete from catalog_categories where slug = $1")
                .bind(slug.as_str())
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}

/// A category with its subcategories and how many products on sale each holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CategoryNode {
    /// Its slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Place among its siblings.
    pub position: i64,
    /// Slugs from the root down to this one.
    pub path: Vec<String>,
    /// Products on sale in this category itself.
    pub product_count: i64,
    /// Products on sale in this category and every category below it.
    pub total_count: i64,
    /// Subcategories, by position then name.
    pub children: Vec<CategoryNode>,
}

#[derive(sqlx::FromRow)]
struct Row {
    slug: String,
    name: String,
    parent: Option<String>,
    position: i64,
    path: String,
    product_count: i64,
}

/// The whole tree: roots by position then name, each with its subcategories and counts.
pub async fn tree(pool: &PgPool) -> Result<Vec<CategoryNode>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "select c.slug, c.name, c.parent, c.position, c.path,
                count(p.sku) filter (where p.published and p.archived_at is null and not exists (
                  select 1 from sellers sl
                  where sl.account_id = p.seller_id and sl.status = 'suspended')) as product_count
         from catalog_categories c left join catalog_products p on p.category = c.slug
         group by c.slug
         order by c.position, c.name, c.slug",
    )
    .fetch_all(pool)
    .await?;
    Ok(children_of(None, &rows))
}

fn children_of(parent: Option<&str>, rows: &[Row]) -> Vec<CategoryNode> {
    rows.iter()
        .filter(|r| r.parent.as_deref() == parent)
        .map(|r| {
            let children = children_of(Some(&r.slug), rows);
            let below: i64 = children.iter().map(|c| c.total_count).sum();
            CategoryNode {
                slug: r.slug.clone(),
                name: r.name.clone(),
                position: r.position,
                path: r.path.split('/').map(str::to_owned).collect(),
                product_count: r.product_count,
                total_count: r.product_count + below,
                children,
            }
        })
        .collect()
}
