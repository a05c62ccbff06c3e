//! Mapping Rust types to signature field types, for `#[derive(Signature)]`.

use super::FieldType;
use serde_json::Value;

/// Rust types usable as signature fields in `#[derive(Signature)]`.
///
/// Implemented for strings, integers, floats, `bool`, `Vec<T>` / `VecDeque<T>` /
/// sets / arrays / slices (list), maps with `String` keys (dict), `Option<T>`
/// (optional), and `&T` / `Box<T>` / `Rc<T>` / `Arc<T>` (the type of `T`). Derive it with
/// `#[derive(SigilEnum)]` for a fieldless enum (a fixed set of choices) or
/// `#[derive(schemars::JsonSchema, SigilObject)]` for a nested object, or implement it
/// by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` can't be the type of a signature field",
    label = "no signature field type for `{Self}`",
    note = "derive `SigilEnum` on a fieldless enum, or `schemars::JsonSchema` and `SigilObject` on a struct, or implement `sigil::signature::SigilType`"
)]
pub trait SigilType {
    /// The field type of `Self`.
    fn field_type() -> FieldType;
}

impl FieldType {
    /// The nested-object field type of a `schemars::JsonSchema` type, as
    /// `#[derive(SigilObject)]` builds it.
    ///
    /// `name` is the type's schema name (its Rust name unless renamed). `schema` is its
    /// draft-07 JSON schema with subschemas inlined and no `$schema` key, so it can be
    /// embedded in another schema. A recursive type can't be fully inlined: its schema
    /// keeps `definitions` and `$ref`s to `#/definitions/...`, which resolve when it is
    /// the root of a document.
    pub fn object_of<T: schemars::JsonSchema + ?Sized>() -> FieldType {
        let mut settings = schemars::r#gen::SchemaSettings::draft07();
        settings.inline_subschemas = true;
        let root = settings.into_generator().into_root_schema_for::<T>();
        let mut schema = serde_json::to_value(&root).unwrap_or(Value::Bool(true));
        if let Value::Object(map) = &mut schema {
            map.remove("$schema");
            if map
                .get("definitions")
                .and_then(Value::as_object)
                .is_some_and(|d| d.is_empty())
            {
                map.remove("definitions");
            }
        }
        FieldType::Object {
            name: T::schema_name(),
            schema,
        }
    }
}

macro_rules! scalar {
    ($v:expr => $($ty:ty),+ $(,)?) => {
        $(
            impl SigilType for $ty {
                fn field_type() -> FieldType {
                    $v
                }
            }
        )+
    };
}
scalar!(FieldType::Str => String, str, char, std::borrow::Cow<'_, str>);
scalar!(FieldType::Int => i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);
scalar!(FieldType::Float => f32, f64);
scalar!(FieldType::Bool => bool);

macro_rules! wrapper {
    ($make:path => $($ty:ty),+ $(,)?) => {
        $(
            impl<T: SigilType> SigilType for $ty {
                fn field_type() -> FieldType {
                    $make(T::field_type())
                }
            }
        )+
    };
}
wrapper!(FieldType::list => Vec<T>, [T], std::collections::VecDeque<T>, std::collections::BTreeSet<T>);
wrapper!(FieldType::optional => Option<T>);

macro_rules! pointer {
    ($($ty:ty),+ $(,)?) => {
        $(
            impl<T: SigilType + ?Sized> SigilType for $ty {
                fn field_type() -> FieldType {
                    T::field_type()
                }
            }
        )+
    };
}
pointer!(&T, Box<T>, std::rc::Rc<T>, std::sync::Arc<T>);

impl<T: SigilType, S> SigilType for std::collections::HashSet<T, S> {
    fn field_type() -> FieldType {
        FieldType::list(T::field_type())
    }
}
impl<T: SigilType, S> SigilType for std::collections::HashMap<String, T, S> {
    fn field_type() -> FieldType {
        FieldType::dict(T::field_type())
    }
}
impl<T: SigilType> SigilType for std::collections::BTreeMap<String, T> {
    fn field_type() -> FieldType {
        FieldType::dict(T::field_type())
    }
}
impl<T: SigilType, S> SigilType for indexmap::IndexMap<String, T, S> {
    fn field_type() -> FieldType {
        FieldType::dict(T::field_type())
    }
}
impl<T: SigilType, const N: usize> SigilType for [T; N] {
    fn field_type() -> FieldType {
        FieldType::list(T::field_type())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap};

    #[test]
    fn rust_types_map_to_field_types() {
        assert_eq!(String::field_type(), FieldType::Str);
        assert_eq!(<&str>::field_type(), FieldType::Str);
        assert_eq!(u8::field_type(), FieldType::Int);
        assert_eq!(f32::field_type(), FieldType::Float);
        assert_eq!(
            <Vec<Option<i64>>>::field_type(),
            FieldType::list(FieldType::optional(FieldType::Int))
        );
        assert_eq!(
            <HashMap<String, Vec<bool>>>::field_type(),
            FieldType::dict(FieldType::list(FieldType::Bool))
        );
        assert_eq!(
            <BTreeMap<String, f64>>::field_type(),
            FieldType::dict(FieldType::Float)
        );
        assert_eq!(
            <Box<[String]>>::field_type(),
            FieldType::list(FieldType::Str)
        );
        assert_eq!(<[u32; 3]>::field_type(), FieldType::list(FieldType::Int));
        assert_eq!(<std::sync::Arc<str>>::field_type(), FieldType::Str);
        assert_eq!(
            <&Option<bool>>::field_type(),
            FieldType::optional(FieldType::Bool)
        );
    }

    #[test]
    fn object_of_inlines_and_drops_meta_keys() {
        let ty = FieldType::object_of::<Vec<u8>>();
        let FieldType::Object { name, schema } = ty else {
            panic!("not an object: {ty:?}")
        };
        assert_eq!(name, "Array_of_uint8");
        assert!(schema.get("$schema").is_none());
        assert_eq!(schema["type"], "array");
    }
}
