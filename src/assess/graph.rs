//! A picture of one configuration: its services grouped by the networks they join, what each
//! waits for (`depends_on`, labelled with the condition), which have a health check, the ports
//! they publish, the named volumes they mount, and what Prometheus scrapes. Rendered as a Mermaid
//! flowchart ([`Graph::mermaid`]), which GitHub draws in Markdown.

use serde::Serialize;

use crate::stack::service::MountKind;
use crate::stack::{Config, Stack};

/// The stack's services and how they connect.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Graph {
    /// Services in the configuration's order.
    pub services: Vec<Node>,
    /// Groups of services that join the same networks: (the networks, sorted and joined with
    /// ` + `, `default` for a service that names none; the services' indexes).
    pub groups: Vec<(String, Vec<usize>)>,
    /// `from` waits for `to`, with the condition (`service_started` when none is written).
    pub depends_on: Vec<Edge>,
    /// Named volumes (sorted) and the services mounting each (their indexes).
    pub volumes: Vec<(String, Vec<usize>)>,
    /// Prometheus (`from`) scrapes a service of the stack (`to`).
    pub scrapes: Vec<Edge>,
}

/// One service.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub name: String,
    /// The profile kind (`postgres`, `backend`, …).
    pub kind: String,
    /// Its own health check, or its image's.
    pub health_check: bool,
    /// Published ports as written (`8080:80`, `127.0.0.1:5432:5432`).
    pub ports: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub label: String,
}

impl Graph {
    /// The graph of `config`, a configuration of `stack`.
    pub fn of(stack: &Stack, config: &Config) -> Graph {
        let _ = stack;
        let index = |name: &str| config.services.iter().position(|s| s.name == name);
        let services: Vec<Node> = config
            .services
            .iter()
            .map(|s| Node {
                name: s.name.clone(),
                kind: s.kind.clone(),
                health_check: s.has_own_probe() || s.image_healthcheck,
                ports: s
                    .ports
                    .iter()
                    .map(|p| {
                        // As compose's short syntax writes it; an empty published port is one
                        // the engine picks.
                        let published = p.published.as_deref().unwrap_or("");
                        match (&p.host_ip, published) {
                            (Some(ip), _) => format!("{ip}:{published}:{}", p.target),
                            (None, "") => p.target.clone(),
                            (None, _) => format!("{published}:{}", p.target),
                        }
                    })
                    .collect(),
            })
            .collect();
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, s) in config.services.iter().enumerate() {
            let mut networks: Vec<&str> = s
                .value
                .get("networks")
                .map(|n| n.entries().iter().map(|(k, _)| k.as_str()).collect())
                .unwrap_or_default();
            if networks.is_empty() {
                let mode = s.value.str_at("network_mode");
                networks.push(mode.unwrap_or("default"));
            }
            networks.sort_unstable();
            networks.dedup();
            let name = networks.join(" + ");
            match groups.iter_mut().find(|(n, _)| *n == name) {
                Some((_, members)) => members.push(i),
                None => groups.push((name, vec![i])),
            }
        }
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        let mut depends_on = Vec::new();
        for (from, s) in config.services.iter().enumerate() {
            for dep in &s.depends_on {
                let Some(to) = index(&dep.service) else { continue };
                let label = dep.condition.as_ref().map_or("service_started", |c| c.value.as_str()).to_string();
                depends_on.push(Edge { from, to, label });
            }
        }
        let mut volumes: std::collections::BTreeMap<String, Vec<usize>> = std::collections::BTreeMap::new();
        for (i, s) in config.services.iter().enumerate() {
            for mount in s.volumes.iter().filter(|m| m.kind == MountKind::Volume) {
                let Some(name) = mount.source.as_deref().filter(|n| !n.is_empty()) else { continue };
                let users = volumes.entry(name.to_string()).or_default();
                if !users.contains(&i) {
                    users.push(i);
                }
            }
        }
        let mut scrapes = Vec::new();
        for prometheus in &config.prometheus {
            let Some(from) = index(&prometheus.service) else { continue };
            for target in &prometheus.scrape_targets {
                let Some(to) = config.service_by_host(&target.host).and_then(|s| index(&s.name)) else { continue };
                let edge = Edge { from, to, label: "scrapes".into() };
                if to != from && !scrapes.contains(&edge) {
                    scrapes.push(edge);
                }
            }
        }
        Graph { services, groups, depends_on, volumes: volumes.into_iter().collect(), scrapes }
    }

    /// A Mermaid flowchart (`flowchart LR`): a subgraph per network group, a node per service
    /// (its name, kind, `health check` or `no health check`, published ports), a cylinder per
    /// named volume, solid arrows for `depends_on` labelled with the condition, dotted ones for
    /// what Prometheus scrapes. Names are quoted: any service or volume name renders.
    pub fn mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        for (g, (name, members)) in self.groups.iter().enumerate() {
            out.push_str(&format!("  subgraph n{g}[\"network: {}\"]\n", label(name)));
            for &i in members {
                let s = &self.services[i];
                let mut lines = vec![format!("<b>{}</b>", label(&s.name)), label(&s.kind)];
                lines.push(if s.health_check { "health check".into() } else { "no health check".into() });
                if !s.ports.is_empty() {
                    lines.push(format!("ports {}", label(&s.ports.join(", "))));
                }
                out.push_str(&format!("    s{i}[\"{}\"]\n", lines.join("<br/>")));
            }
            out.push_str("  end\n");
        }
        for (v, (name, _)) in self.volumes.iter().enumerate() {
            out.push_str(&format!("  v{v}[(\"{}\")]\n", label(name)));
        }
        for e in &self.depends_on {
            out.push_str(&format!("  s{} -->|\"{}\"| s{}\n", e.from, label(&e.label), e.to));
        }
        for (v, (_, users)) in self.volumes.iter().enumerate() {
            for &i in users {
                out.push_str(&format!("  s{i} --- v{v}\n"));
            }
        }
        for e in &self.scrapes {
            out.push_str(&format!("  s{} -.->|\"{}\"| s{}\n", e.from, label(&e.label), e.to));
        }
        out
    }
}

/// The most services and lines the SVG diagram lays out: layout-rs's placement grows faster than
/// the square of the nodes (60 services take seconds here, 100 minutes).
pub const MAX_SVG_SERVICES: usize = 40;
pub const MAX_SVG_LINES: usize = 120;

/// The longest Mermaid text the Markdown report holds: GitHub refuses to render more than
/// 50,000 characters.
pub const MAX_MERMAID_CHARS: usize = 45_000;

impl Graph {
    /// Whether [`Graph::svg_with_ids`] draws this graph (small enough to lay out quickly).
    pub fn drawn_as_svg(&self) -> bool {
        let lines =
            self.depends_on.len() + self.scrapes.len() + self.volumes.iter().map(|(_, u)| u.len()).sum::<usize>();
        self.services.len() <= MAX_SVG_SERVICES && lines <= MAX_SVG_LINES
    }
}

/// The fill colour of the services of network group `g` (a light palette, repeated).
pub fn group_colour(g: usize) -> &'static str {
    const PALETTE: [&str; 8] = ["#ddf4ff", "#dafbe1", "#fff8c5", "#ffebe9", "#fbefff", "#ffeff7", "#f6f8fa", "#ffe2c2"];
    PALETTE[g % PALETTE.len()]
}

impl Graph {
    /// The graph as an inline SVG element (no XML declaration), laid out left to right by
    /// layout-rs: a box per service (name, kind, health check, ports) filled with its network
    /// group's colour ([`group_colour`]), a circle per named volume, solid arrows for `depends_on`
    /// labelled with the condition, dashed lines to volumes, dotted arrows for what Prometheus
    /// scrapes. Every id in it starts with `id_prefix`, so several graphs share a page. Empty
    /// when the layout fails (the page lists the groups in words anyway).
    pub fn svg_with_ids(&self, id_prefix: &str) -> String {
        if !self.drawn_as_svg() {
            return String::new();
        }
        use layout::backends::svg::SVGWriter;
        use layout::core::base::Orientation;
        use layout::core::color::Color;
        use layout::core::style::{LineStyleKind, StyleAttr};
        use layout::std_shapes::render::get_shape_size;
        use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, ShapeKind};
        use layout::topo::layout::VisualGraph;

        // One font size everywhere: the SVG writer lists its font classes from a hash map.
        const FONT: usize = 14;
        let orientation = Orientation::LeftToRight;
        let laid_out = std::panic::catch_unwind(|| {
            let mut vg = VisualGraph::new(orientation);
            let group_of = |i: usize| self.groups.iter().position(|(_, m)| m.contains(&i)).unwrap_or(0);
            let node = |vg: &mut VisualGraph, shape: ShapeKind, fill: &str, rounded: usize| {
                let fill = Color::from_name(fill).unwrap_or_else(|| Color::fast("white"));
                let look = StyleAttr::new(Color::fast("black"), 1, Some(fill), rounded, FONT);
                let size = get_shape_size(orientation, &shape, FONT, false);
                vg.add_node(Element::create(shape, look, orientation, size))
            };
            let services: Vec<_> = self
                .services
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let mut label = format!(
                        "{}\n{}\n{}",
                        plain(&s.name),
                        plain(&s.kind),
                        match s.health_check {
                            true => "health check",
                            false => "no health check",
                        }
                    );
                    if !s.ports.is_empty() {
                        label.push_str(&format!("\nports {}", plain(&s.ports.join(", "))));
                    }
                    node(&mut vg, ShapeKind::new_box(&label), group_colour(group_of(i)), 6)
                })
                .collect();
            let volumes: Vec<_> = self
                .volumes
                .iter()
                .map(|(name, _)| node(&mut vg, ShapeKind::new_circle(&plain(name)), "#f6f8fa", 0))
                .collect();
            let line = |style: LineStyleKind, end: LineEndKind, text: &str| {
                let look = StyleAttr::new(Color::fast("black"), 1, None, 0, FONT);
                Arrow::new(LineEndKind::None, end, style, text, &look, &None, &None)
            };
            for e in &self.depends_on {
                vg.add_edge(
                    line(LineStyleKind::Normal, LineEndKind::Arrow, &plain(&e.label)),
                    services[e.from],
                    services[e.to],
                );
            }
            for (v, (_, users)) in self.volumes.iter().enumerate() {
                for &i in users {
                    vg.add_edge(line(LineStyleKind::Dashed, LineEndKind::None, ""), services[i], volumes[v]);
                }
            }
            for e in &self.scrapes {
                vg.add_edge(
                    line(LineStyleKind::Dotted, LineEndKind::Arrow, "scrapes"),
                    services[e.from],
                    services[e.to],
                );
            }
            let mut writer = SVGWriter::new();
            vg.do_it(false, false, false, &mut writer);
            writer.finalize()
        });
        let Ok(svg) = laid_out else { return String::new() };
        let svg = styles_sorted(&svg);
        let svg = svg.trim_start_matches(r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>"#);
        svg.replacen("<svg ", "<svg class=\"stack\" role=\"img\" aria-label=\"the services of the stack\" ", 1)
            .replace("id=\"", &format!("id=\"{id_prefix}"))
            .replace("url(#", &format!("url(#{id_prefix}"))
            .replace("href=\"#", &format!("href=\"#{id_prefix}"))
    }
}

/// `svg` with the rules of its first `<style>` block sorted: the SVG writer lists its font classes
/// in the order of a hash map, which changes from run to run (a report is the same bytes for the
/// same files).
fn styles_sorted(svg: &str) -> String {
    const OPEN: &str = "<style>\n";
    let Some(start) = svg.find(OPEN).map(|i| i + OPEN.len()) else { return svg.to_string() };
    let Some(end) = svg[start..].find("</style>").map(|i| start + i) else { return svg.to_string() };
    let mut rules: Vec<&str> = svg[start..end].lines().collect();
    rules.sort_unstable();
    let mut out = String::with_capacity(svg.len());
    out.push_str(&svg[..start]);
    for rule in rules {
        out.push_str(rule);
        out.push('\n');
    }
    out.push_str(&svg[end..]);
    out
}

/// A name as a diagram label: printable characters only (the SVG writer escapes markup).
fn plain(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Text for a quoted Mermaid label: HTML-escaped, with Mermaid's `#…;` entity codes for the
/// characters its parser gives a meaning to.
fn label(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '#' => out.push_str("#35;"),
            '|' => out.push_str("#124;"),
            '`' => out.push_str("#96;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drawing_is_the_same_bytes_every_time() {
        // Labels of several sizes: the writer makes a font class for each.
        let graph = Graph {
            services: (0..6)
                .map(|i| Node {
                    name: format!("service-with-a-long-name-{i}"),
                    kind: "backend".into(),
                    health_check: i % 2 == 0,
                    ports: vec![format!("{}:80", 8000 + i)],
                })
                .collect(),
            groups: vec![("default".into(), (0..6).collect())],
            depends_on: (1..6).map(|i| Edge { from: i, to: 0, label: "service_healthy".into() }).collect(),
            volumes: vec![("data".into(), vec![0, 1])],
            scrapes: vec![Edge { from: 5, to: 1, label: String::new() }],
        };
        let first = graph.svg_with_ids("g-");
        assert!(first.matches("font-size").count() > 1, "{first}");
        for _ in 0..20 {
            assert_eq!(graph.svg_with_ids("g-"), first);
        }
        assert_eq!(styles_sorted("<style>\n.b {}\n.a {}\n</style>\n<g/>"), "<style>\n.a {}\n.b {}\n</style>\n<g/>");
    }

    #[test]
    fn labels_cannot_break_out_of_quotes() {
        assert_eq!(label("a\"b<c>|d#e"), "a#quot;b#lt;c#gt;#124;d#35;e");
        assert_eq!(label("x\ny"), "x y");
    }

    #[test]
    fn mermaid_has_a_node_per_service_and_an_edge_per_dependency() {
        let graph = Graph {
            services: vec![
                Node { name: "api".into(), kind: "backend".into(), health_check: false, ports: vec!["8080:80".into()] },
                Node { name: "db".into(), kind: "postgres".into(), health_check: true, ports: vec![] },
            ],
            groups: vec![("default".into(), vec![0, 1])],
            depends_on: vec![Edge { from: 0, to: 1, label: "service_healthy".into() }],
            volumes: vec![("pgdata".into(), vec![1])],
            scrapes: vec![],
        };
        let m = graph.mermaid();
        assert!(m.starts_with("flowchart LR\n"), "{m}");
        assert!(m.contains("s0[\"<b>api</b><br/>backend<br/>no health check<br/>ports 8080:80\"]"), "{m}");
        assert!(m.contains("s1[\"<b>db</b><br/>postgres<br/>health check\"]"), "{m}");
        assert!(m.contains("s0 -->|\"service_healthy\"| s1"), "{m}");
        assert!(m.contains("v0[(\"pgdata\")]") && m.contains("s1 --- v0"), "{m}");
    }
}
