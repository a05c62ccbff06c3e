//! Mapping Rust types to signature field types, for `#[derive(Signature)]`.

use super::FieldType;

/// Rust types usable as signature fields in `#[derive(Signature)]`.
pub trait SigilType {
    fn field_type() -> FieldType;
}

macro_rules! scalar {
    ($ty:ty, $v:expr) => {
        impl SigilType for $ty {
            fn field_type() -> FieldType {
                $v
            }
        }
    };
}
scalar!(String, FieldType::Str);
scalar!(&str, FieldType::Str);
scalar!(i64, FieldType::Int);
scalar!(i32, FieldType::Int);
scalar!(u32, FieldType::Int);
scalar!(u64, FieldType::Int);
scalar!(usize, FieldType::Int);
scalar!(f64, FieldType::Float);
scalar!(f32, FieldType::Float);
scalar!(bool, FieldType::Bool);

impl<T: SigilType> SigilType for Vec<T> {
    fn field_type() -> FieldType {
        FieldType::list(T::field_type())
    }
}
impl<T: SigilType> SigilType for Option<T> {
    fn field_type() -> FieldType {
        FieldType::optional(T::field_type())
    }
}
impl<T: SigilType> SigilType for std::collections::HashMap<String, T> {
    fn field_type() -> FieldType {
        FieldType::dict(T::field_type())
    }
}
impl<T: SigilType> SigilType for std::collections::BTreeMap<String, T> {
    fn field_type() -> FieldType {
        FieldType::dict(T::field_type())
    }
}
impl<T: SigilType> SigilType for indexmap::IndexMap<String, T> {
    fn field_type() -> FieldType {
        FieldType::dict(T::field_type())
    }
}

