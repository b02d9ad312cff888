//! Strongly connected components, used for recursive types (which must be boxed, which
//! have infinite size) and for fingerprints (types that refer to each other are hashed
//! together).

/// The strongly connected component of each node of a graph given as adjacency lists.
///
/// Components are numbered in the order Tarjan's algorithm completes them, which is a
/// reverse topological order: every component a node reaches has a number no larger than
/// its own. The search keeps its own stack, so a chain of a hundred thousand nodes does
/// not overflow the thread's.
pub(crate) fn strongly_connected(adjacency: &[Vec<usize>]) -> Vec<usize> {
    let nodes = adjacency.len();
    const UNSEEN: usize = usize::MAX;
    let mut order = vec![UNSEEN; nodes];
    let mut low = vec![0; nodes];
    let mut on_stack = vec![false; nodes];
    let mut component = vec![UNSEEN; nodes];
    let mut stack = Vec::new();
    let mut next_order = 0;
    let mut next_component = 0;
    for root in 0..nodes {
        if order[root] != UNSEEN {
            continue;
        }
        // Each frame: a node and how many of its edges have been followed.
        let mut frames = vec![(root, 0usize)];
        order[root] = next_order;
        low[root] = next_order;
        next_order += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (node, ref mut edge)) = frames.last_mut() {
            if let Some(&to) = adjacency[node].get(*edge) {
                *edge += 1;
                if order[to] == UNSEEN {
                    order[to] = next_order;
                    low[to] = next_order;
                    next_order += 1;
                    stack.push(to);
                    on_stack[to] = true;
                    frames.push((to, 0));
                } else if on_stack[to] {
                    low[node] = low[node].min(order[to]);
                }
                continue;
            }
            frames.pop();
            if let Some(&(parent, _)) = frames.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == order[node] {
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component[member] = next_component;
                    if member == node {
                        break;
                    }
                }
                next_component += 1;
            }
        }
    }
    component
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_come_in_reverse_topological_order() {
        // 0 -> 1 <-> 2 -> 3, and 4 alone.
        let c = strongly_connected(&[vec![1], vec![2], vec![1, 3], vec![], vec![]]);
        assert_eq!(c[1], c[2]);
        assert!(c[3] < c[1] && c[1] < c[0]);
        assert_ne!(c[4], c[0]);
    }
}
