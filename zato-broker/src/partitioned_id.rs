//! The ids users see of entries that live in one of several partitions: a dead letter, a
//! pub/sub message. Stream ids are unique only within their stream, so an id past partition
//! 0 carries its partition, `<partition>/<stream id>` (`3/1700000000000-0`); in partition 0 it
//! is the plain stream id, so that a cluster of one partition sees what it always saw.

/// The id of stream entry `id` of `partition`.
pub fn qualify(partition: usize, id: &str) -> String {
    match partition {
        0 => id.to_owned(),
        p => format!("{p}/{id}"),
    }
}

/// The partition and stream id of an id [`qualify`] made; `None` for one it cannot have.
pub fn split(id: &str) -> Option<(usize, &str)> {
    match id.split_once('/') {
        Some((partition, id)) => Some((partition.parse().ok().filter(|p| *p > 0)?, id)),
        None => Some((0, id)),
    }
}

/// Whether `id` is a stream id (`<ms>-<seq>`), qualified with its partition or not.
pub fn is_stream_id(id: &str) -> bool {
    split(id).is_some_and(|(_, id)| {
        id.split_once('-')
            .is_some_and(|(ms, seq)| ms.parse::<u64>().is_ok() && seq.parse::<u64>().is_ok())
    })
}

/// A stream id as numbers, for ordering ids of different streams by time.
pub fn time_order(id: &str) -> (u64, u64) {
    let id = split(id).map_or(id, |(_, id)| id);
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(u64::MAX), seq.parse().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_their_partition_past_the_first() {
        assert_eq!(qualify(0, "5-1"), "5-1");
        assert_eq!(qualify(3, "5-1"), "3/5-1");
        assert_eq!(split("3/5-1"), Some((3, "5-1")));
        assert_eq!(split("5-1"), Some((0, "5-1")));
        assert_eq!(split("0/5-1"), None, "partition 0 has no prefix");
        assert_eq!(split("x/5-1"), None);
        assert!(time_order("10-0") > time_order("2/9-5"));
        assert!(is_stream_id("1-2") && is_stream_id("4/1-2"));
        assert!(!is_stream_id("x-1") && !is_stream_id("12") && !is_stream_id("0/1-2"));
    }
}
