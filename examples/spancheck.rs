use stackfix::yaml::{NodeKind, ScalarStyle, Tree};
fn main() {
    let mut files = 0;
    let mut bad = 0;
    for path in std::env::args().skip(1) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        files += 1;
        let tree = match Tree::parse(text) {
            Ok(t) => t,
            Err(e) => {
                println!("{path}: parse error {e}");
                continue;
            }
        };
        for id in 0..tree.len() {
            let n = tree.node(id);
            if let NodeKind::Scalar { value, style } = &n.kind {
                if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) || value.is_empty() {
                    continue;
                }
                let t = tree.text_of(id);
                let re = Tree::parse(format!("{t}\n"));
                let ok = match &re {
                    Ok(r) => {
                        r.root().map(|x| r.node(x).as_str().map(|s| s.to_string())).flatten().as_deref()
                            == Some(value.as_str())
                    }
                    Err(_) => false,
                };
                if !ok {
                    bad += 1;
                    if bad < 30 {
                        println!("{path}: {:?} span text {:?}", value, t);
                    }
                }
            }
        }
    }
    println!("files {files} bad {bad}");
}
