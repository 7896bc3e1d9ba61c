//! Spawning through one task type.
//!
//! Every distinct future handed to `tokio::spawn`, and every closure handed
//! to `spawn_blocking`, instantiates tokio's task machinery anew: the task
//! cell, its harness, the waker table and a `catch_unwind`, about 3,000
//! lines of LLVM IR each. At 142 instantiations that was 13 % of this
//! crate's IR, compiled twice in every CI run (the library and its unit
//! tests). Boxed here, the daemon's tasks share one instantiation per kind;
//! the price is an allocation per spawn, and nothing spawns per frame.
//!
//! Use these instead of `tokio::spawn` / `spawn_blocking` in the daemon.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use tokio::task::{JoinError, JoinHandle};

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;
type Answer = Box<dyn Any + Send>;

/// `tokio::spawn` for a task that answers nothing: a loop, a worker, a
/// fire-and-forget send. The handle aborts or awaits it as tokio's does.
pub(crate) fn spawn(task: impl Future<Output = ()> + Send + 'static) -> JoinHandle<()> {
    tokio::spawn(Box::pin(task) as Task)
}

/// `tokio::spawn(work).await`: `work` runs in a task of its own (it still
/// finishes when the caller is dropped) and its answer comes back.
pub(crate) async fn detached<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> Result<T, JoinError> {
    let work: Pin<Box<dyn Future<Output = Answer> + Send>> =
        Box::pin(async move { Box::new(work.await) as Answer });
    Ok(unbox(tokio::spawn(work).await?))
}

/// `tokio::task::spawn_blocking(f).await`: `f` runs on the blocking pool
/// (SQLite, files, a long computation) and its answer comes back.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, JoinError> {
    let f: Box<dyn FnOnce() -> Answer + Send> = Box::new(move || Box::new(f()) as Answer);
    Ok(unbox(tokio::task::spawn_blocking(f).await?))
}

fn unbox<T: 'static>(answer: Answer) -> T {
    match answer.downcast::<T>() {
        Ok(t) => *t,
        // The box was made from a `T` a few lines up: no other type is in it.
        Err(_) => unreachable!("a task's answer is of its own type"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_come_back_and_panics_are_join_errors() {
        assert_eq!(detached(async { 7u8 }).await.unwrap(), 7);
        assert_eq!(blocking(|| String::from("lamp")).await.unwrap(), "lamp");
        let e = blocking(|| -> u8 { panic!("a failed lamp") })
            .await
            .unwrap_err();
        assert!(e.is_panic());
        let e = detached(async {
            if true {
                panic!("a failed lamp")
            }
        })
        .await
        .unwrap_err();
        assert!(e.is_panic());
        let (tx, rx) = tokio::sync::oneshot::channel();
        spawn(async move {
            let _ = tx.send(3u8);
        })
        .await
        .unwrap();
        assert_eq!(rx.await.unwrap(), 3);
    }
}
