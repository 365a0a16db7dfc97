//! Real-shaped workflow graphs: a generator with the edge density and the
//! fan-in / fan-out of Montage-like scientific workflows (WfCommons'
//! Montage, 1000Genome and SoyKB graphs run 8–12 edges a task, with a few
//! joins that gather a whole stage and fan back out).
//!
//! The shape, for `tasks` jobs in `stages` stages (ids in topological
//! order, job `i` has id `i`):
//!
//! * stage 0: `width` independent tasks (the inputs: Montage's
//!   `mProjectPP`);
//! * every later stage: `width - JOINS` *map* tasks, each depending on 5–11
//!   tasks of the stage above, drawn from a window of 64 around its own
//!   position (neighbouring tiles: `mDiffFit`, `mBackground`), and on the
//!   first join of the stage above (the model every tile needs:
//!   `mBgModel`);
//! * the last `JOINS` tasks of every stage after the first: *joins*, each
//!   depending on every map task of its own stage (`mConcatFit`,
//!   `mImgtbl`: fan-in-heavy).
//!
//! About 9.5 edges a task on average; a join gathers `width − 2` edges and
//! fans out to the whole next stage.
//!
//! ```
//! use harness::workflow::Workflow;
//! let graph = Workflow::montage_like(10_000, 7);
//! assert_eq!(graph.len(), 10_000);
//! let per_task = graph.edges() as f64 / graph.len() as f64;
//! assert!((8.5..11.0).contains(&per_task), "{per_task}");
//! ```

use crate::rng::Rng;

/// Joins at the end of every stage after the first.
pub const JOINS: usize = 2;
/// Stages in a generated workflow.
const STAGES: usize = 10;
/// Map tasks draw their dependencies from this many neighbours above.
const WINDOW: usize = 64;

/// A generated workflow: each task's dependencies (ids below its own).
#[derive(Clone, Debug)]
pub struct Workflow {
    /// `dependencies[i]`: the ids job `i` depends on, each below `i`.
    pub dependencies: Vec<Vec<u64>>,
}

impl Workflow {
    /// A Montage-like workflow of `tasks` jobs (see the module docs), the
    /// same for the same `seed`. `tasks` is rounded down to a multiple of
    /// the stage count (10), at least 10 tasks a stage.
    pub fn montage_like(tasks: usize, seed: u64) -> Workflow {
        let width = (tasks / STAGES).max(JOINS + 8);
        let mut rng = Rng::new(seed);
        let mut dependencies: Vec<Vec<u64>> = Vec::with_capacity(width * STAGES);
        for _ in 0..width {
            dependencies.push(Vec::new());
        }
        for stage in 1..STAGES {
            let above = ((stage - 1) * width) as u64;
            let maps_above = if stage == 1 { width } else { width - JOINS };
            let first = (stage * width) as u64;
            for position in 0..width - JOINS {
                let wanted = 5 + rng.below(7) as usize;
                let centre = position * maps_above / (width - JOINS);
                let low = centre.saturating_sub(WINDOW / 2).min(maps_above - 1);
                let span = WINDOW.min(maps_above - low);
                let mut picked: Vec<u64> = Vec::with_capacity(wanted + 1);
                while picked.len() < wanted.min(span) {
                    let dependency = above + (low + rng.below(span as u64) as usize) as u64;
                    if !picked.contains(&dependency) {
                        picked.push(dependency);
                    }
                }
                if stage > 1 {
                    // The stage above's first join (its model).
                    picked.push(above + (width - JOINS) as u64);
                }
                dependencies.push(picked);
            }
            for _ in 0..JOINS {
                dependencies.push((first..first + (width - JOINS) as u64).collect());
            }
        }
        Workflow { dependencies }
    }

    /// The number of tasks.
    pub fn len(&self) -> usize {
        self.dependencies.len()
    }

    /// Whether it has no task.
    pub fn is_empty(&self) -> bool {
        self.dependencies.is_empty()
    }

    /// The number of dependency edges.
    pub fn edges(&self) -> usize {
        self.dependencies.iter().map(Vec::len).sum()
    }

    /// The largest number of dependencies of one task (the joins').
    pub fn max_fan_in(&self) -> usize {
        self.dependencies.iter().map(Vec::len).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn montage_like_is_a_dag_in_id_order_with_the_stated_density() {
        for tasks in [1_000, 10_000] {
            let graph = Workflow::montage_like(tasks, 3);
            assert_eq!(graph.len(), tasks);
            for (id, dependencies) in graph.dependencies.iter().enumerate() {
                assert!(dependencies.iter().all(|&d| (d as usize) < id), "job {id}");
                let mut unique = dependencies.clone();
                unique.sort_unstable();
                unique.dedup();
                assert_eq!(unique.len(), dependencies.len(), "job {id}: repeated edge");
            }
            let per_task = graph.edges() as f64 / tasks as f64;
            assert!((8.5..11.0).contains(&per_task), "{tasks}: {per_task}");
            assert_eq!(graph.max_fan_in(), tasks / STAGES - JOINS);
            // The first stage has no dependency, every later task has some.
            let width = tasks / STAGES;
            assert!(graph.dependencies[..width].iter().all(Vec::is_empty));
            assert!(graph.dependencies[width..].iter().all(|d| !d.is_empty()));
        }
        let again = Workflow::montage_like(10_000, 3);
        assert_eq!(
            again.dependencies,
            Workflow::montage_like(10_000, 3).dependencies
        );
    }
}
