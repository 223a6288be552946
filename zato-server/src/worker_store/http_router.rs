//! Matching a request path to an HTTP channel, without scanning the channels one by one.
//!
//! Channels are kept in a tree of path segments. At each level a static segment is tried
//! before a `{param}` one, and the first node (in that order) that has channels decides the
//! answer: its channel for the method, or 405. So `/users/me` beats `/users/{id}` whatever the
//! order the channels were created in, and the cost of a match depends on the path's depth,
//! not on the number of channels (Zato 2 scanned every channel in name order).

use std::collections::BTreeMap;

use zato_common::model::HttpChannel;
use zato_common::url_path::{Segment, UrlPath};

/// A channel as the router holds it.
#[derive(Debug)]
pub struct Endpoint {
    pub channel: HttpChannel,
    /// The parameter names, in path order.
    params: Vec<String>,
}

#[derive(Debug, Default)]
struct Node {
    statics: BTreeMap<String, Node>,
    param: Option<Box<Node>>,
    endpoints: Vec<Endpoint>,
}

/// The result of a lookup, borrowed from the router.
#[derive(Debug)]
pub enum Match<'r> {
    /// A channel answers: with the parameters bound.
    Found {
        endpoint: &'r Endpoint,
        params: BTreeMap<String, String>,
    },
    /// A channel has this path, but not for this method; the methods it takes.
    MethodNotAllowed(Vec<String>),
    /// No active channel has this path.
    NotFound,
}

/// Every active HTTP channel, ready to match.
#[derive(Debug, Default)]
pub struct HttpRouter {
    root: Node,
}

impl HttpRouter {
    /// Builds the tree from the channels; inactive and invalid ones are left out.
    pub fn build<'a>(channels: impl IntoIterator<Item = &'a HttpChannel>) -> Self {
        let mut root = Node::default();
        for channel in channels {
            if !channel.is_active {
                continue;
            }
            let Ok(path) = UrlPath::parse(&channel.url_path) else {
                continue;
            };
            let mut node = &mut root;
            for segment in path.segments() {
                node = match segment {
                    Segment::Static(text) => node.statics.entry(text.clone()).or_default(),
                    Segment::Param(_) => node.param.get_or_insert_with(Box::default),
                };
            }
            node.endpoints.push(Endpoint {
                channel: channel.clone(),
                params: path.params().map(str::to_owned).collect(),
            });
        }
        // Deterministic choice among endpoints of one node: method-specific ones first.
        fn sort(node: &mut Node) {
            node.endpoints.sort_by(|a, b| {
                (a.channel.method.is_none(), &a.channel.name)
                    .cmp(&(b.channel.method.is_none(), &b.channel.name))
            });
            node.statics.values_mut().for_each(sort);
            if let Some(param) = node.param.as_deref_mut() {
                sort(param);
            }
        }
        sort(&mut root);
        Self { root }
    }

    /// Finds the channel for `method` and `path` (the raw, still percent-encoded path).
    pub fn find(&self, method: &str, path: &str) -> Match<'_> {
        let Some(rest) = path.strip_prefix('/') else {
            return Match::NotFound;
        };
        let mut values = Vec::new();
        let found = if rest.is_empty() {
            (!self.root.endpoints.is_empty()).then_some(&self.root)
        } else {
            find_node(&self.root, rest, &mut values)
        };
        let Some(node) = found else {
            return Match::NotFound;
        };
        let chosen = node
            .endpoints
            .iter()
            .find(|e| e.channel.method.as_deref() == Some(method))
            .or_else(|| node.endpoints.iter().find(|e| e.channel.method.is_none()));
        match chosen {
            Some(endpoint) => Match::Found {
                params: endpoint
                    .params
                    .iter()
                    .cloned()
                    .zip(values.into_iter().map(percent_decode))
                    .collect(),
                endpoint,
            },
            None => Match::MethodNotAllowed(
                node.endpoints
                    .iter()
                    .filter_map(|e| e.channel.method.clone())
                    .collect(),
            ),
        }
    }
}

/// Depth-first, static before parameter, over the segments of `path` (no leading slash);
/// `values` collects the parameter segments.
fn find_node<'n, 'p>(node: &'n Node, path: &'p str, values: &mut Vec<&'p str>) -> Option<&'n Node> {
    let (first, rest) = match path.split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (path, None),
    };
    if first.is_empty() {
        return None;
    }
    let descend = |child: &'n Node, values: &mut Vec<&'p str>| match rest {
        Some(rest) => find_node(child, rest, values),
        None => (!child.endpoints.is_empty()).then_some(child),
    };
    if let Some(child) = node.statics.get(first)
        && let Some(found) = descend(child, values)
    {
        return Some(found);
    }
    let param = node.param.as_deref()?;
    values.push(first);
    let found = descend(param, values);
    if found.is_none() {
        values.pop();
    }
    found
}

/// Decodes `%XX` escapes; invalid escapes and non-UTF-8 results are kept as they came.
pub fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = raw.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(name: &str, path: &str, method: Option<&str>) -> HttpChannel {
        HttpChannel {
            name: name.into(),
            url_path: path.into(),
            method: method.map(Into::into),
            service: "zato.echo".into(),
            data_format: Default::default(),
            security: None,
            is_active: true,
        }
    }

    fn found(m: Match) -> (String, BTreeMap<String, String>) {
        match m {
            Match::Found { endpoint, params } => (endpoint.channel.name.clone(), params),
            other => panic!("expected a match, got {other:?}"),
        }
    }

    #[test]
    fn static_beats_param_whatever_the_order() {
        let channels = [
            channel("by-id", "/users/{id}", None),
            channel("me", "/users/me", None),
        ];
        for order in [
            &channels[..],
            &[channels[1].clone(), channels[0].clone()][..],
        ] {
            let router = HttpRouter::build(order);
            assert_eq!(found(router.find("GET", "/users/me")).0, "me");
            let (name, params) = found(router.find("GET", "/users/42"));
            assert_eq!(name, "by-id");
            assert_eq!(params["id"], "42");
        }
    }

    #[test]
    fn backtracks_from_a_static_dead_end() {
        let router =
            HttpRouter::build(&[channel("s", "/a/b/c", None), channel("p", "/a/{x}/d", None)]);
        let (name, params) = found(router.find("GET", "/a/b/d"));
        assert_eq!((name.as_str(), params["x"].as_str()), ("p", "b"));
    }

    #[test]
    fn methods_not_found_and_inactive() {
        let mut inactive = channel("off", "/off", None);
        inactive.is_active = false;
        let router = HttpRouter::build(&[
            channel("get", "/items", Some("GET")),
            channel("post", "/items", Some("POST")),
            inactive,
            channel("root", "/", None),
        ]);
        assert_eq!(found(router.find("POST", "/items")).0, "post");
        match router.find("DELETE", "/items") {
            Match::MethodNotAllowed(mut allowed) => {
                allowed.sort();
                assert_eq!(allowed, ["GET", "POST"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(router.find("GET", "/off"), Match::NotFound));
        assert!(matches!(router.find("GET", "/items/"), Match::NotFound));
        assert!(matches!(router.find("GET", "/nothing"), Match::NotFound));
        assert_eq!(found(router.find("GET", "/")).0, "root");
    }

    #[test]
    fn parameters_are_percent_decoded() {
        let router = HttpRouter::build(&[channel("c", "/files/{name}", None)]);
        assert_eq!(found(router.find("GET", "/files/a%20b")).1["name"], "a b");
        assert_eq!(found(router.find("GET", "/files/%zz")).1["name"], "%zz");
    }
}
