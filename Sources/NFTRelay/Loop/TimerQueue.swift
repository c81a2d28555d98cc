/// A cancellable one-shot timer; the loop skips actions whose token was cancelled.
final class TimerToken {
    fileprivate(set) var cancelled = false
    func cancel() { cancelled = true }
}

/// Deadlines in a binary min-heap. Cancelling is lazy: a cancelled entry stays in the heap
/// until it comes due and is then dropped, which keeps cancel O(1) (connect timeouts are
/// cancelled far more often than they fire).
struct TimerQueue {
    private struct Entry {
        var deadline: UInt64
        var sequence: UInt64
        var token: TimerToken
        var action: () -> Void
        func precedes(_ other: Entry) -> Bool {
            deadline != other.deadline ? deadline < other.deadline : sequence < other.sequence
        }
    }

    private var heap: [Entry] = []
    private var sequence: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var nextDeadline: UInt64? { heap.first?.deadline }

    @discardableResult
    mutating func schedule(at deadline: UInt64, _ action: @escaping () -> Void) -> TimerToken {
        let token = TimerToken()
        sequence &+= 1
        heap.append(Entry(deadline: deadline, sequence: sequence, token: token, action: action))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].precedes(heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
        return token
    }

    /// Removes and returns the actions due at `now` (cancelled ones are dropped).
    mutating func popDue(now: UInt64) -> [() -> Void] {
        var due: [() -> Void] = []
        while let first = heap.first, first.deadline <= now {
            let entry = removeFirst()
            if !entry.token.cancelled { due.append(entry.action) }
        }
        return due
    }

    private mutating func removeFirst() -> Entry {
        let first = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && heap[l].precedes(heap[m]) { m = l }
                if r < heap.count && heap[r].precedes(heap[m]) { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        return first
    }
}
