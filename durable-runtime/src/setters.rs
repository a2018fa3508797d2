//! `setters!`: the chainable setters of the `#[non_exhaustive]` option, query and protocol
//! structs, one consuming method per field, named as the field
//! (`WorkerOptions::default().max_concurrent_activities(8)`).
//!
//! Code outside the crate cannot build a `#[non_exhaustive]` struct with a literal (nor
//! with `..Default::default()`), so each such struct has `Default` or a `new(..)` for its
//! required fields, and these setters for the rest. Fields stay public: reading them and
//! assigning them (`query.continuation_token = page.continuation_token`) still works.

/// Generates `impl $ty { pub fn field(mut self, value) -> Self }` for each listed field,
/// with the doc comment written before it.
///
/// `field: T` takes a `T`; `field: Into(T)` an `impl Into<T>`; `field: Some(T)` sets an `Option<T>` field from an
/// `impl Into<T>` (`key("secret")` for `key: Option<String>`). Attributes written before a
/// field (its doc, a `#[cfg]`) go on its setter.
macro_rules! setters {
    (impl $ty:ty { $($fields:tt)* }) => {
        impl $ty {
            $crate::setters::setters!(@field $($fields)*);
        }
    };
    (@field) => {};
    (@field $(#[$attr:meta])* $field:ident: Some($arg:ty); $($rest:tt)*) => {
        $(#[$attr])*
        #[must_use]
        pub fn $field(mut self, $field: impl Into<$arg>) -> Self {
            self.$field = Some($field.into());
            self
        }
        $crate::setters::setters!(@field $($rest)*);
    };
    (@field $(#[$attr:meta])* $field:ident: Into($arg:ty); $($rest:tt)*) => {
        $(#[$attr])*
        #[must_use]
        pub fn $field(mut self, $field: impl Into<$arg>) -> Self {
            self.$field = $field.into();
            self
        }
        $crate::setters::setters!(@field $($rest)*);
    };
    (@field $(#[$attr:meta])* $field:ident: $arg:ty; $($rest:tt)*) => {
        $(#[$attr])*
        #[must_use]
        pub fn $field(mut self, $field: $arg) -> Self {
            self.$field = $field;
            self
        }
        $crate::setters::setters!(@field $($rest)*);
    };
}

pub(crate) use setters;
