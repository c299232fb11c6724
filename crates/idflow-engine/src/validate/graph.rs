//! The step graph: cycles, a topological order and what runs before what.

use fixedbitset::FixedBitSet;
use petgraph::graph::{DiGraph, NodeIndex};

/// The result of planning the graph.
#[derive(Debug)]
pub(crate) struct GraphPlan {
    /// A topological order (ties broken by written order); `None` when
    /// there is a cycle.
    pub(crate) order: Option<Vec<usize>>,
    /// Each cycle, as step indices in the order the edges go (a needs b
    /// needs c needs a: `[a, b, c]`).
    pub(crate) cycles: Vec<Vec<usize>>,
    /// For each step, the steps that finish before it starts (empty when
    /// there is a cycle).
    pub(crate) ancestors: Vec<FixedBitSet>,
}

/// Plans a graph of `count` steps where `needs[i]` lists what step `i`
/// needs (indices, already resolved).
pub(crate) fn plan(count: usize, needs: &[Vec<usize>]) -> GraphPlan {
    let mut graph: DiGraph<(), ()> =
        DiGraph::with_capacity(count, needs.iter().map(Vec::len).sum());
    for _ in 0..count {
        graph.add_node(());
    }
    for (step, step_needs) in needs.iter().enumerate() {
        for &need in step_needs {
            // Edge from the step to what it needs: following edges walks
            // "needs", which is the order people read a cycle in.
            graph.add_edge(NodeIndex::new(step), NodeIndex::new(need), ());
        }
    }
    let cycles = find_cycles(&graph);
    if !cycles.is_empty() {
        return GraphPlan {
            order: None,
            cycles,
            ancestors: Vec::new(),
        };
    }
    let order = topological_order(count, needs);
    let mut ancestors = vec![FixedBitSet::new(); count];
    for &step in &order {
        let mut set = FixedBitSet::with_capacity(count);
        for &need in &needs[step] {
            set.union_with(&ancestors[need]);
            set.insert(need);
        }
        ancestors[step] = set;
    }
    GraphPlan {
        order: Some(order),
        cycles,
        ancestors,
    }
}

/// Kahn's algorithm, always taking the earliest-written ready step.
fn topological_order(count: usize, needs: &[Vec<usize>]) -> Vec<usize> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut waiting: Vec<usize> = needs.iter().map(Vec::len).collect();
    let mut dependents = vec![Vec::new(); count];
    for (step, step_needs) in needs.iter().enumerate() {
        for &need in step_needs {
            dependents[need].push(step);
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..count)
        .filter(|&i| waiting[i] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(count);
    while let Some(Reverse(step)) = ready.pop() {
        order.push(step);
        for &dependent in &dependents[step] {
            waiting[dependent] -= 1;
            if waiting[dependent] == 0 {
                ready.push(Reverse(dependent));
            }
        }
    }
    order
}

/// One cycle per strongly connected component that has one, walked from
/// its earliest-written step.
fn find_cycles(graph: &DiGraph<(), ()>) -> Vec<Vec<usize>> {
    let mut cycles = Vec::new();
    for component in petgraph::algo::tarjan_scc(graph) {
        let self_loop = component.len() == 1 && graph.contains_edge(component[0], component[0]);
        if component.len() < 2 && !self_loop {
            continue;
        }
        let mut members: Vec<usize> = component.iter().map(|n| n.index()).collect();
        members.sort_unstable();
        let in_component = |n: NodeIndex| members.binary_search(&n.index()).is_ok();
        // Walk edges inside the component from the first step until we come
        // back to a step already on the path.
        let start = NodeIndex::new(members[0]);
        let mut path = vec![start];
        let mut current = start;
        loop {
            let mut next: Vec<NodeIndex> = graph
                .neighbors(current)
                .filter(|n| in_component(*n))
                .collect();
            next.sort_unstable();
            let Some(&step) = next.first() else { break };
            if let Some(at) = path.iter().position(|n| *n == step) {
                path.drain(..at);
                break;
            }
            path.push(step);
            current = step;
        }
        cycles.push(path.iter().map(|n| n.index()).collect());
    }
    cycles.sort();
    cycles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_needs_then_written_order() {
        // 0 needs 2, 1 needs nothing, 2 needs 1, 3 needs nothing
        let plan = plan(4, &[vec![2], vec![], vec![1], vec![]]);
        assert_eq!(plan.order.unwrap(), [1, 2, 0, 3]);
        assert!(plan.cycles.is_empty());
        assert_eq!(plan.ancestors[0].ones().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(plan.ancestors[3].ones().count(), 0);
    }

    #[test]
    fn finds_cycles_in_edge_order() {
        // a(0) needs b(1), b needs c(2), c needs a; d(3) needs itself
        let plan = plan(4, &[vec![1], vec![2], vec![0], vec![3]]);
        assert!(plan.order.is_none());
        assert_eq!(plan.cycles, vec![vec![0, 1, 2], vec![3]]);
    }

    #[test]
    fn a_long_chain_plans_in_linear_time_and_quadratic_bits() {
        let count = 2_000;
        let needs: Vec<Vec<usize>> = (0..count)
            .map(|i| if i == 0 { vec![] } else { vec![i - 1] })
            .collect();
        let plan = plan(count, &needs);
        assert_eq!(plan.order.unwrap().len(), count);
        assert_eq!(plan.ancestors[count - 1].count_ones(..), count - 1);
    }
}
