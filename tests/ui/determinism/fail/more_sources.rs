use std::time::Duration;

use durable_runtime::prelude::*;

// Stand-ins for the crates, so that only the determinism errors show.
mod nanoid {
    macro_rules! nanoid {
        ($($size:tt)*) => {
            String::new()
        };
    }
    pub(crate) use nanoid;
}
mod threadpool {
    pub struct ThreadPool;
    impl ThreadPool {
        pub fn new(_: usize) -> Self {
            ThreadPool
        }
        pub fn execute<F: FnOnce()>(&self, f: F) {
            f();
        }
    }
}
mod cuid2 {
    pub fn create_id() -> String {
        String::new()
    }
}
mod dotenvy {
    pub fn var(_: &str) -> Result<String, std::env::VarError> {
        Ok(String::new())
    }
}
mod sqlx {
    pub fn query(_: &str) -> usize {
        0
    }
}
mod async_std {
    pub mod task {
        pub async fn sleep(_: std::time::Duration) {}
    }
}

#[orchestrator]
async fn more_sources(_ctx: OrchestrationContext, jobs: Vec<u64>) -> Result<usize, OrchestrationError> {
    use nanoid::nanoid;
    let short = nanoid!(10);
    let long = nanoid::nanoid!();
    let pool = threadpool::ThreadPool::new(4);
    for job in jobs {
        pool.execute(move || drop(job));
    }
    let id = cuid2::create_id();
    let url = dotenvy::var("API_URL").unwrap_or_default();
    let rows = sqlx::query("SELECT 1");
    async_std::task::sleep(Duration::from_millis(10)).await;
    Ok(short.len() + long.len() + id.len() + url.len() + rows)
}

fn main() {}
