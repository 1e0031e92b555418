/// The conventions hold for the tree as it is: `cargo test` alone catches a
/// breach, not only `cargo xtask ci`.
#[test]
fn the_tree_is_tidy() {
    super::run().unwrap();
}
