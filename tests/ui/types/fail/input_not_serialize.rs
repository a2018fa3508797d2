use durable_runtime::prelude::*;

struct Order {
    id: u32,
}

#[activity]
async fn ship(order: Order) -> u32 {
    order.id
}

fn main() {}
