use stackfix::rules::{self, RuleSettings};
use stackfix::stack::{self, LoadOptions, Profiles, Value};
use stackfix::yaml::Tree;
use std::time::Instant;
fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let text = std::fs::read_to_string(dir.join("docker-compose.yml")).unwrap();
    for _ in 0..3 {
        let t = Instant::now();
        let tree = Tree::parse(text.clone()).unwrap();
        let t1 = t.elapsed();
        let v = Value::from_tree(&tree, tree.root().unwrap(), 0).unwrap();
        let t2 = t.elapsed();
        drop(v);
        let t3 = Instant::now();
        let s = stack::load(&LoadOptions { dir: dir.clone(), files: vec![], profiles: Profiles::builtin() });
        let t4 = t3.elapsed();
        let f = rules::check(&s, &RuleSettings::default());
        let t5 = t3.elapsed();
        println!("tree {t1:?} value {:?} load {t4:?} rules {:?} findings {}", t2 - t1, t5 - t4, f.len());
        let t6 = Instant::now();
        for r in rules::REGISTRY {
            let ctx = rules::Context { stack: &s, config: &s.configs[0] };
            let n = Instant::now();
            let k = r.check(&ctx).len();
            let e = n.elapsed();
            if e.as_micros() > 300 {
                println!("  {} {e:?} {k}", r.meta().id);
            }
        }
        let _ = t6;
    }
}
