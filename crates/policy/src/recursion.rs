//! Refuses recursive Rego at load time.
//!
//! Rego forbids recursion (OPA refuses it with `rego_recursion_error`), but regorus 0.14 does
//! not check for it: a rule that depends on itself — `a if b` with `b if a`, a function calling
//! itself, `f` calling `g` calling `f` — overflows the stack of its interpreter and of its VM,
//! which aborts the whole process. A policy in Git must not be able to crash the reconciler, so
//! every engine's modules are checked here before anything is evaluated.
//!
//! The check builds the dependency graph of the rules, as OPA's compiler does: a rule depends on
//! every rule its bodies, head values, arguments' defaults, comprehensions and `with ... as`
//! values refer to — by name in its own package (unless a local variable of that name is in
//! scope), through `data.…`, or through an import alias. A reference with a dynamic part
//! (`data.lib[name]`) depends on every rule under its static prefix, and a reference to a
//! package depends on every rule in it. Any cycle is refused, naming its rules and where the
//! first is defined.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::path::PathBuf;

use regorus::unstable::{AssignOp, Expr, Literal, Module, Query, Ref, Rule, RuleHead, Span};

use crate::PolicyError;

/// The longest chain of rules depending on each other that is accepted. regorus evaluates a
/// rule's dependencies recursively, so a long enough chain overflows any stack; real policies
/// stay within a dozen (the library's deepest chain is 5 rules).
pub(crate) const MAX_RULE_DEPTH: usize = 64;

/// One rule path (every definition of it together) in the graph.
struct Node {
    /// `["data", "<package>", ..., "<rule>"]`.
    path: Vec<String>,
    /// Where it is first defined.
    file: String,
    line: u32,
    col: u32,
    /// The nodes it depends on.
    deps: BTreeSet<usize>,
}

impl Node {
    fn name(&self) -> String {
        self.path.join(".")
    }

    /// An error at this rule's first definition.
    fn error(&self, what: &str) -> PolicyError {
        PolicyError::Rego {
            path: PathBuf::from(&self.file),
            message: format!("{}:{}:{}: {what}", self.file, self.line, self.col),
        }
    }
}

/// Refuses the modules when any rule depends on itself, directly or through others, or when
/// rules depend on each other more than [`MAX_RULE_DEPTH`] deep.
///
/// # Errors
/// [`PolicyError::Rego`] naming the cycle (`data.p.a -> data.p.b -> data.p.a`) or the chain,
/// and the file, line and column of its first rule.
pub(crate) fn check(modules: &[Ref<Module>]) -> Result<(), PolicyError> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut index: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    // Each rule with its module's walker context and its node.
    let mut contexts: Vec<(Vec<String>, Imports)> = Vec::new();
    let mut rules: Vec<(usize, &Rule, usize)> = Vec::new();
    for module in modules {
        let package = package_path(module);
        contexts.push((package.clone(), imports(module)));
        for rule in &module.policy {
            let Some(head) = head_refr(rule) else { continue };
            let mut path = package.clone();
            path.extend(static_prefix(head));
            let id = *index.entry(path.clone()).or_insert_with(|| {
                let span = rule.span();
                nodes.push(Node {
                    path,
                    file: span.source.get_path().clone(),
                    line: span.line,
                    col: span.col,
                    deps: BTreeSet::new(),
                });
                nodes.len() - 1
            });
            rules.push((contexts.len() - 1, rule, id));
        }
    }
    for (context, rule, id) in rules {
        let (package, imports) = &contexts[context];
        let mut walker = Walker { package, imports, refs: Vec::new() };
        walker.rule(rule);
        for target in &walker.refs {
            // The rules a reference can name: those at a prefix of it (`data.p.a` for
            // `data.p.a.b`), and those under it (`data.p.a.b` for `data.p.a`, or `data.p`).
            let above = (1..=target.len()).filter_map(|n| index.get(&target[..n]));
            let below = index
                .range::<[String], _>((Bound::Excluded(target.as_slice()), Bound::Unbounded))
                .take_while(|(path, _)| path.starts_with(target))
                .map(|(_, id)| id);
            let deps: Vec<usize> = above.chain(below).copied().collect();
            nodes[id].deps.extend(deps);
        }
    }
    let order = match depth_first(&nodes) {
        Ok(order) => order,
        Err(cycle) => {
            let first = &nodes[cycle[0]];
            let mut names: Vec<String> = cycle.iter().map(|i| nodes[*i].name()).collect();
            names.push(first.name());
            return Err(
                first.error(&format!("recursive rules are not allowed in Rego: {}", names.join(" -> ")))
            );
        }
    };
    // The longest chain of rules that depend on each other, each rule's computed after those
    // it depends on (`order` is a post-order).
    let mut depth = vec![0_usize; nodes.len()];
    let mut next: Vec<Option<usize>> = vec![None; nodes.len()];
    for &node in &order {
        let deepest = nodes[node].deps.iter().copied().max_by_key(|d| depth[*d]);
        depth[node] = 1 + deepest.map_or(0, |d| depth[d]);
        next[node] = deepest;
    }
    if let Some(start) = (0..nodes.len()).find(|n| depth[*n] > MAX_RULE_DEPTH) {
        let mut chain = vec![nodes[start].name()];
        let mut at = next[start];
        while let Some(n) = at {
            chain.push(nodes[n].name());
            at = next[n];
        }
        let shown = if chain.len() > 4 {
            format!("{} -> {} -> ... -> {}", chain[0], chain[1], chain[chain.len() - 1])
        } else {
            chain.join(" -> ")
        };
        return Err(nodes[start].error(&format!(
            "rules depend on each other {} deep ({shown}); at most {MAX_RULE_DEPTH} are allowed, so that \
             evaluating them cannot overflow the stack",
            depth[start]
        )));
    }
    Ok(())
}

/// Every node in post-order (each after the nodes it depends on), or a cycle as the nodes
/// along it (the caller repeats the first at the end). Iterative depth-first search: a long
/// chain of rules must not overflow this stack either.
fn depth_first(nodes: &[Node]) -> Result<Vec<usize>, Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; nodes.len()];
    let mut order = Vec::with_capacity(nodes.len());
    for start in 0..nodes.len() {
        if mark[start] != Mark::New {
            continue;
        }
        // The path from `start`, each node with the dependencies left to visit.
        let mut stack: Vec<(usize, Vec<usize>)> = vec![(start, nodes[start].deps.iter().copied().collect())];
        mark[start] = Mark::Open;
        while let Some((node, pending)) = stack.last_mut() {
            let node = *node;
            match pending.pop() {
                Some(next) => match mark[next] {
                    Mark::Open => {
                        let from = stack.iter().position(|(n, _)| *n == next).unwrap_or(0);
                        return Err(stack[from..].iter().map(|(n, _)| *n).collect());
                    }
                    Mark::New => {
                        mark[next] = Mark::Open;
                        stack.push((next, nodes[next].deps.iter().copied().collect()));
                    }
                    Mark::Done => {}
                },
                None => {
                    mark[node] = Mark::Done;
                    order.push(node);
                    stack.pop();
                }
            }
        }
    }
    Ok(order)
}

/// `["data", ...]` of a module's package.
fn package_path(module: &Module) -> Vec<String> {
    let mut path = vec!["data".to_owned()];
    path.extend(static_prefix(&module.package.refr));
    path
}

/// A module's import aliases and the paths they stand for (`None`: not a rule).
type Imports = BTreeMap<String, Option<Vec<String>>>;

/// Import aliases: `import data.lib.k8s` makes `k8s` stand for `data.lib.k8s`, `... as x` makes
/// `x`. An alias of `input.…` (or `future.keywords.…`, `rego.v1`) names no rule: `None`.
fn imports(module: &Module) -> Imports {
    let mut out = BTreeMap::new();
    for import in &module.imports {
        let path = static_prefix(&import.refr);
        let alias = match &import.r#as {
            Some(span) => span.text().to_owned(),
            None => match path.last() {
                Some(last) => last.clone(),
                None => continue,
            },
        };
        let data = path.first().map(String::as_str) == Some("data");
        out.insert(alias, data.then_some(path));
    }
    out
}

/// The head reference of a rule (`deny`, `a.b.c`, `p[k]`, `f`).
fn head_refr(rule: &Rule) -> Option<&Ref<Expr>> {
    match rule {
        Rule::Spec { head, .. } => match head {
            RuleHead::Compr { refr, .. } | RuleHead::Set { refr, .. } | RuleHead::Func { refr, .. } => {
                Some(refr)
            }
        },
        Rule::Default { refr, .. } => Some(refr),
    }
}

/// One step of a reference: a name, or a part only known at evaluation.
enum Part<'a> {
    Static(String),
    Dynamic(&'a Ref<Expr>),
}

/// A reference as its root expression and the parts after it, in order.
fn flatten(expr: &Ref<Expr>) -> (&Ref<Expr>, Vec<Part<'_>>) {
    let mut parts = Vec::new();
    let mut at = expr;
    loop {
        match at.as_ref() {
            Expr::RefDot { refr, field, .. } => {
                parts.push(Part::Static(field.0.text().to_owned()));
                at = refr;
            }
            Expr::RefBrack { refr, index, .. } => {
                parts.push(match index.as_ref() {
                    Expr::String { value, .. } | Expr::RawString { value, .. } => match value.as_string() {
                        Ok(s) => Part::Static(s.to_string()),
                        Err(_) => Part::Dynamic(index),
                    },
                    _ => Part::Dynamic(index),
                });
                at = refr;
            }
            _ => break,
        }
    }
    parts.reverse();
    (at, parts)
}

/// The names of a reference up to its first dynamic part, its root variable included.
fn static_prefix(expr: &Ref<Expr>) -> Vec<String> {
    let (root, parts) = flatten(expr);
    let Expr::Var { span, .. } = root.as_ref() else { return Vec::new() };
    let mut out = vec![span.text().to_owned()];
    for part in parts {
        match part {
            Part::Static(name) => out.push(name),
            Part::Dynamic(_) => break,
        }
    }
    out
}

/// Variables in scope: a chain of sets, innermost first.
struct Scope<'p> {
    names: BTreeSet<String>,
    parent: Option<&'p Scope<'p>>,
}

impl<'p> Scope<'p> {
    fn new(names: BTreeSet<String>, parent: Option<&'p Scope<'p>>) -> Self {
        Self { names, parent }
    }

    fn contains(&self, name: &str) -> bool {
        self.names.contains(name) || self.parent.is_some_and(|p| p.contains(name))
    }
}

/// Every variable name in a pattern (`x`, `[x, y]`, `{"k": v}`).
fn pattern_vars(expr: &Ref<Expr>, out: &mut BTreeSet<String>) {
    match expr.as_ref() {
        Expr::Var { span, .. } => {
            out.insert(span.text().to_owned());
        }
        Expr::Array { items, .. } | Expr::Set { items, .. } => {
            for item in items {
                pattern_vars(item, out);
            }
        }
        Expr::Object { fields, .. } => {
            for (_, _, value) in fields {
                pattern_vars(value, out);
            }
        }
        _ => {}
    }
}

/// The variables a query declares for itself: `x := ...`, `some x`, `some x in ...`.
fn declared(query: &Query) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for stmt in &query.stmts {
        match &stmt.literal {
            Literal::SomeVars { vars, .. } => out.extend(vars.iter().map(|v| v.text().to_owned())),
            Literal::SomeIn { key, value, .. } => {
                if let Some(key) = key {
                    pattern_vars(key, &mut out);
                }
                pattern_vars(value, &mut out);
            }
            Literal::Expr { expr, .. } => {
                if let Expr::AssignExpr { op: AssignOp::ColEq, lhs, .. } = expr.as_ref() {
                    pattern_vars(lhs, &mut out);
                }
            }
            Literal::NotExpr { .. } | Literal::Every { .. } => {}
        }
    }
    out
}

/// Collects what one rule refers to, as absolute paths (`["data", ...]`).
struct Walker<'m> {
    package: &'m [String],
    imports: &'m Imports,
    refs: Vec<Vec<String>>,
}

impl Walker<'_> {
    fn rule(&mut self, rule: &Rule) {
        match rule {
            Rule::Default { args, value, .. } => {
                let scope = Scope::new(args_scope(args), None);
                self.expr(value, &scope);
            }
            Rule::Spec { head, bodies, .. } => {
                let (refr, key, assign, args) = match head {
                    RuleHead::Compr { refr, assign, .. } => (refr, None, assign.as_ref(), &[][..]),
                    RuleHead::Set { refr, key, .. } => (refr, key.as_ref(), None, &[][..]),
                    RuleHead::Func { refr, args, assign, .. } => {
                        (refr, None, assign.as_ref(), args.as_slice())
                    }
                };
                let head_scope = Scope::new(args_scope(args), None);
                let visit_head = |walker: &mut Self, scope: &Scope<'_>| {
                    for part in flatten(refr).1 {
                        if let Part::Dynamic(index) = part {
                            walker.expr(index, scope);
                        }
                    }
                    if let Some(key) = key {
                        walker.expr(key, scope);
                    }
                    if let Some(assign) = assign {
                        walker.expr(&assign.value, scope);
                    }
                };
                if bodies.is_empty() {
                    visit_head(self, &head_scope);
                }
                for body in bodies {
                    let scope = Scope::new(declared(&body.query), Some(&head_scope));
                    self.query(&body.query, &scope);
                    visit_head(self, &scope);
                    if let Some(assign) = &body.assign {
                        self.expr(&assign.value, &scope);
                    }
                }
            }
        }
    }

    /// A query whose own declarations are already in `scope`.
    fn query(&mut self, query: &Query, scope: &Scope<'_>) {
        for stmt in &query.stmts {
            for with in &stmt.with_mods {
                self.expr(&with.r#as, scope);
            }
            match &stmt.literal {
                Literal::SomeVars { .. } => {}
                Literal::SomeIn { key, value, collection, .. } => {
                    if let Some(key) = key {
                        self.expr(key, scope);
                    }
                    self.expr(value, scope);
                    self.expr(collection, scope);
                }
                Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => self.expr(expr, scope),
                Literal::Every { key, value, domain, query, .. } => {
                    self.expr(domain, scope);
                    let mut names = declared(query);
                    names.extend(key.iter().chain(Some(value)).map(|s: &Span| s.text().to_owned()));
                    let inner = Scope::new(names, Some(scope));
                    self.query(query, &inner);
                }
            }
        }
    }

    /// A comprehension's query in its own scope, then `terms` in that scope.
    fn comprehension(&mut self, query: &Query, terms: &[&Ref<Expr>], scope: &Scope<'_>) {
        let inner = Scope::new(declared(query), Some(scope));
        self.query(query, &inner);
        for term in terms {
            self.expr(term, &inner);
        }
    }

    fn expr(&mut self, expr: &Ref<Expr>, scope: &Scope<'_>) {
        match expr.as_ref() {
            Expr::String { .. }
            | Expr::RawString { .. }
            | Expr::Number { .. }
            | Expr::Bool { .. }
            | Expr::Null { .. } => {}
            Expr::Var { .. } | Expr::RefDot { .. } | Expr::RefBrack { .. } => self.reference(expr, scope),
            Expr::Array { items, .. } | Expr::Set { items, .. } => {
                for item in items {
                    self.expr(item, scope);
                }
            }
            Expr::Object { fields, .. } => {
                for (_, key, value) in fields {
                    self.expr(key, scope);
                    self.expr(value, scope);
                }
            }
            Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
                self.comprehension(query, &[term], scope);
            }
            Expr::ObjectCompr { key, value, query, .. } => self.comprehension(query, &[key, value], scope),
            Expr::Call { fcn, params, .. } => {
                self.reference(fcn, scope);
                for param in params {
                    self.expr(param, scope);
                }
            }
            Expr::UnaryExpr { expr, .. } => self.expr(expr, scope),
            Expr::BinExpr { lhs, rhs, .. }
            | Expr::BoolExpr { lhs, rhs, .. }
            | Expr::ArithExpr { lhs, rhs, .. }
            | Expr::AssignExpr { lhs, rhs, .. } => {
                self.expr(lhs, scope);
                self.expr(rhs, scope);
            }
            Expr::Membership { key, value, collection, .. } => {
                if let Some(key) = key {
                    self.expr(key, scope);
                }
                self.expr(value, scope);
                self.expr(collection, scope);
            }
        }
    }

    /// A reference (`x`, `data.a.b[c]`, `k8s.name`, a function's name): records the rules its
    /// static prefix can name, then walks its dynamic parts.
    fn reference(&mut self, expr: &Ref<Expr>, scope: &Scope<'_>) {
        let (root, parts) = flatten(expr);
        let mut names = Vec::new();
        let mut dynamic = false;
        for part in &parts {
            match part {
                Part::Static(name) if !dynamic => names.push(name.clone()),
                Part::Static(_) => {}
                Part::Dynamic(index) => {
                    dynamic = true;
                    self.expr(index, scope);
                }
            }
        }
        let Expr::Var { span, .. } = root.as_ref() else {
            self.expr(root, scope);
            return;
        };
        let name = span.text();
        if name == "_" || name == "input" || scope.contains(name) {
            return;
        }
        let mut path = if name == "data" {
            vec!["data".to_owned()]
        } else if let Some(import) = self.imports.get(name) {
            match import {
                Some(path) => path.clone(),
                None => return,
            }
        } else {
            let mut path = self.package.to_vec();
            path.push(name.to_owned());
            path
        };
        path.extend(names);
        self.refs.push(path);
    }
}

/// The variables of a function's arguments.
fn args_scope(args: &[Ref<Expr>]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for arg in args {
        pattern_vars(arg, &mut out);
    }
    out
}
