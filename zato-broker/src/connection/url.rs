//! The three shapes of a Redis URL: one Redis, a Redis Cluster, a Redis Sentinel group.
//!
//! One Redis keeps redis-rs's own URL (`redis://`, `rediss://`, with `#insecure`). The other
//! two name several hosts, which no standard URL does, so they follow the shape Lettuce and
//! go-redis users know, one scheme each, the hosts comma-separated:
//!
//! - `redis+cluster://[user:password@]host:port,host:port,...` (seed nodes; the rest of the
//!   cluster is found from them);
//! - `redis+sentinel://[user:password@]host:port,host:port,.../<master name>[/<db>]`.
//!
//! `rediss+cluster://` and `rediss+sentinel://` use TLS to every node, `#insecure` without
//! verifying it. The user and password are the Redis nodes'; sentinels are asked without
//! them (Sentinel's own default).

use redis::{ConnectionInfo, IntoConnectionInfo};

use crate::error::{BrokerError, Result};

/// Where Redis is, as a URL names it.
#[derive(Debug, Clone)]
pub enum RedisUrl {
    /// One Redis (it may have replicas; the platform talks to this one only).
    Single(ConnectionInfo),
    /// A Redis Cluster, by its seed nodes.
    Cluster(Vec<ConnectionInfo>),
    /// A master found through its sentinels.
    Sentinel {
        /// The sentinels, as redis-rs connects to them (no user or password).
        sentinels: Vec<ConnectionInfo>,
        /// The name the sentinels monitor the master under.
        master: String,
        /// How to reach whichever node is the master: user, password, db, TLS.
        node: ConnectionInfo,
    },
}

impl RedisUrl {
    /// Parses `url`; the error names what is wrong, never the password.
    pub fn parse(url: &str) -> Result<Self> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(invalid(
                "it has no scheme (redis://, redis+cluster://, redis+sentinel://)",
            ));
        };
        let (base, shape) = match scheme.split_once('+') {
            None => return Ok(Self::Single(url.into_connection_info()?)),
            Some((base @ ("redis" | "rediss"), shape @ ("cluster" | "sentinel"))) => (base, shape),
            Some(_) => {
                return Err(invalid(&format!(
                    "unknown scheme {scheme}:// (redis, rediss, redis+cluster, rediss+cluster, redis+sentinel, rediss+sentinel)"
                )));
            }
        };
        let (rest, fragment) = match rest.split_once('#') {
            Some((rest, fragment)) => (rest, format!("#{fragment}")),
            None => (rest, String::new()),
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (user_info, hosts) = match authority.rsplit_once('@') {
            Some((user_info, hosts)) => (format!("{user_info}@"), hosts),
            None => (String::new(), authority),
        };
        let hosts: Vec<&str> = hosts.split(',').map(str::trim).collect();
        if hosts.iter().any(|h| h.is_empty()) {
            return Err(invalid("it names an empty host"));
        }
        let node = |host: &str, user_info: &str, db: &str| -> Result<ConnectionInfo> {
            Ok(format!("{base}://{user_info}{host}/{db}{fragment}").into_connection_info()?)
        };
        if shape == "cluster" {
            if !path.trim_matches('/').is_empty() {
                return Err(invalid("a Redis Cluster has one database; give no path"));
            }
            let nodes = hosts
                .iter()
                .map(|h| node(h, &user_info, ""))
                .collect::<Result<_>>()?;
            return Ok(Self::Cluster(nodes));
        }
        let mut segments = path.split('/').filter(|s| !s.is_empty());
        let Some(master) = segments.next() else {
            return Err(invalid(
                "a sentinel URL ends with the master's name: redis+sentinel://host:26379/mymaster",
            ));
        };
        let db = segments.next().unwrap_or("");
        if segments.next().is_some() {
            return Err(invalid("a sentinel URL's path is /<master name>[/<db>]"));
        }
        let sentinels = hosts
            .iter()
            .map(|h| node(h, "", ""))
            .collect::<Result<_>>()?;
        Ok(Self::Sentinel {
            sentinels,
            master: master.to_owned(),
            node: node(hosts[0], &user_info, db)?,
        })
    }
}

fn invalid(detail: &str) -> BrokerError {
    BrokerError::Redis(redis::RedisError::from((
        redis::ErrorKind::InvalidClientConfig,
        "invalid Redis URL",
        detail.to_owned(),
    )))
}

#[cfg(test)]
mod tests {
    use redis::ConnectionAddr;

    use super::*;

    fn hosts(infos: &[ConnectionInfo]) -> Vec<String> {
        infos.iter().map(|i| i.addr().to_string()).collect()
    }

    #[test]
    fn a_plain_url_is_one_redis() {
        let url = RedisUrl::parse("redis://:pw@127.0.0.1:6390/2").expect("parses");
        let RedisUrl::Single(info) = url else {
            panic!("not single")
        };
        assert_eq!(info.redis_settings().db(), 2);
        assert_eq!(info.redis_settings().password(), Some("pw"));
    }

    #[test]
    fn a_cluster_url_names_every_seed_with_the_same_credentials() {
        let url = RedisUrl::parse("redis+cluster://zato:pw@10.0.0.1:7000, 10.0.0.2:7001")
            .expect("parses");
        let RedisUrl::Cluster(nodes) = url else {
            panic!("not cluster")
        };
        assert_eq!(hosts(&nodes), ["10.0.0.1:7000", "10.0.0.2:7001"]);
        assert!(
            nodes
                .iter()
                .all(|n| n.redis_settings().username() == Some("zato")
                    && n.redis_settings().password() == Some("pw"))
        );
    }

    #[test]
    fn a_sentinel_url_names_the_sentinels_the_master_and_the_db() {
        let url = RedisUrl::parse("rediss+sentinel://:pw@s1:26379,s2:26380/mymaster/3#insecure")
            .expect("parses");
        let RedisUrl::Sentinel {
            sentinels,
            master,
            node,
        } = url
        else {
            panic!("not sentinel")
        };
        assert_eq!(master, "mymaster");
        assert_eq!(node.redis_settings().db(), 3);
        assert_eq!(node.redis_settings().password(), Some("pw"));
        assert!(matches!(
            node.addr(),
            ConnectionAddr::TcpTls { insecure: true, .. }
        ));
        assert!(
            sentinels
                .iter()
                .all(|s| s.redis_settings().password().is_none())
        );
        assert_eq!(sentinels.len(), 2);
    }

    #[test]
    fn bad_urls_are_refused_with_the_reason() {
        for (url, reason) in [
            ("redis+sentinel://s1:26379", "master's name"),
            ("redis+cluster://a:1,,b:2", "empty host"),
            ("redis+cluster://a:1/3", "one database"),
            ("redis+mesh://a:1", "unknown scheme"),
            ("127.0.0.1:6379", "no scheme"),
        ] {
            let error = RedisUrl::parse(url).expect_err(url).to_string();
            assert!(error.contains(reason), "{url}: {error}");
        }
    }
}
