//! Values: Helm-compatible layering of chart defaults, `-f` files and the `--set` family, and validation.
