//! Bounds on regorus builtins that allocate hugely from small arguments, in one call.
//!
//! Time limits are checked between steps of an evaluation, but `numbers.range(1, 1e12)` asks
//! for its whole array at once (regorus 0.14 reserves it, the allocation fails, the process
//! aborts), and `sprintf("%4000000000d", [1])` pads to 4 GB. These builtins are checked before
//! they run, in both evaluators: the interpreter calls them through extensions (which it
//! consults before its builtins) that check the arguments and then call regorus's own builtin;
//! the VM through the check in its builtin wrappers ([`crate::vm`]). A refused call is a builtin
//! error: the policy fails closed.

use regorus::unstable::{BUILTINS, Expr, Ref, Source, Span};
use regorus::{Engine, Value};

/// The most elements `numbers.range` and `numbers.range_step` may make.
pub(crate) const MAX_RANGE: u128 = 1_000_000;

/// The largest width or precision a `sprintf` format may ask for.
pub(crate) const MAX_WIDTH: u64 = 100_000;

/// The builtins checked before they run ([`refusal`]), with their argument counts.
pub(crate) const GUARDED: [(&str, u8); 3] = [("numbers.range", 2), ("numbers.range_step", 3), ("sprintf", 2)];

/// Why a call of the guarded builtin `name` with `args` is refused; `None` when it may run
/// (arguments of the wrong type included: the builtin itself reports those).
pub(crate) fn refusal(name: &str, args: &[Value]) -> Option<String> {
    match name {
        "numbers.range" | "numbers.range_step" => range_refusal(name, args),
        "sprintf" => sprintf_refusal(args),
        _ => None,
    }
}

fn integer(value: &Value) -> Option<i64> {
    value.as_number().ok().filter(|n| n.is_integer()).and_then(|n| n.as_i64())
}

/// More than [`MAX_RANGE`] elements.
fn range_refusal(name: &str, args: &[Value]) -> Option<String> {
    let from = integer(args.first()?)?;
    let to = integer(args.get(1)?)?;
    let step = if name == "numbers.range_step" {
        u128::try_from(integer(args.get(2)?)?).ok().filter(|s| *s > 0)?
    } else {
        1
    };
    let count = (i128::from(to) - i128::from(from)).unsigned_abs() / step + 1;
    (count > MAX_RANGE)
        .then(|| format!("{name}: {count} elements, more than the {MAX_RANGE} driftless allows"))
}

/// A width or precision (the digits after a `%`, up to the verb) over [`MAX_WIDTH`].
fn sprintf_refusal(args: &[Value]) -> Option<String> {
    let Value::String(format) = args.first()? else { return None };
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' || chars.next_if_eq(&'%').is_some() {
            continue;
        }
        let mut number: u64 = 0;
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit() || **d == '.') {
            chars.next();
            number = match d.to_digit(10) {
                Some(digit) => number.saturating_mul(10).saturating_add(u64::from(digit)),
                None => 0,
            };
            if number > MAX_WIDTH {
                return Some(format!("sprintf: a width or precision over the {MAX_WIDTH} driftless allows"));
            }
        }
    }
    None
}

/// The guarded builtin `name`: refused per [`refusal`], else regorus's own, given a span and
/// parameters that only its error messages read.
fn guarded(name: &'static str, args: &[Value]) -> anyhow::Result<Value> {
    if let Some(refusal) = refusal(name, args) {
        anyhow::bail!(refusal);
    }
    let (original, _) =
        BUILTINS.get(&name).ok_or_else(|| anyhow::anyhow!("regorus has no builtin {name}"))?;
    let source = Source::from_contents(name.to_owned(), name.to_owned())?;
    let span = Span { source, line: 1, col: 1, start: 0, end: 0 };
    let params: Vec<Ref<Expr>> = args
        .iter()
        .map(|_| Ref::new(Expr::Null { span: span.clone(), value: Value::Null, eidx: 0 }))
        .collect();
    original(&span, &params, args, true)
}

/// Gives `engine`'s interpreter the guarded builtins.
pub(crate) fn install(engine: &mut Engine) {
    for (name, nargs) in GUARDED {
        let added = engine.add_extension(
            name.to_owned(),
            nargs,
            Box::new(move |args: Vec<Value>| guarded(name, &args)),
        );
        if let Err(e) = added {
            tracing::warn!(builtin = name, error = %e, "the guarded builtin was not installed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(v: &Value) -> Vec<i64> {
        match v {
            Value::Array(items) => items.iter().filter_map(integer).collect(),
            _ => panic!("not an array: {v:?}"),
        }
    }

    #[test]
    fn guarded_builtins_answer_as_regorus_within_the_bounds() {
        let range = |a: i64, b: i64| guarded("numbers.range", &[Value::from(a), Value::from(b)]);
        assert_eq!(ints(&range(1, 4).unwrap()), [1, 2, 3, 4]);
        assert_eq!(ints(&range(2, -1).unwrap()), [2, 1, 0, -1]);
        let step = |a: i64, b: i64, s: i64| {
            guarded("numbers.range_step", &[Value::from(a), Value::from(b), Value::from(s)])
        };
        assert_eq!(ints(&step(0, 10, 3).unwrap()), [0, 3, 6, 9]);
        assert_eq!(ints(&step(10, 0, 4).unwrap()), [10, 6, 2]);
        assert!(step(0, 10, 0).is_err());
        assert!(guarded("numbers.range", &[Value::from(1.5), Value::from(3_i64)]).is_err());
        let text = guarded(
            "sprintf",
            &[
                Value::from("%05d|%s|%.2f|100%%"),
                Value::from(vec![Value::from(42_i64), Value::from("a"), Value::from(1.5)]),
            ],
        )
        .unwrap();
        assert_eq!(text, Value::from("00042|a|1.50|100%"));
    }

    #[test]
    fn huge_ranges_and_widths_are_refused_before_running() {
        let err =
            guarded("numbers.range", &[Value::from(1_i64), Value::from(1_000_000_000_000_i64)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "numbers.range: 1000000000000 elements, more than the 1000000 driftless allows"
        );
        let extreme = [Value::from(i64::MIN), Value::from(i64::MAX), Value::from(1_i64)];
        assert!(guarded("numbers.range_step", &extreme).is_err());
        assert_eq!(refusal("numbers.range", &[Value::from(1_i64), Value::from(1_000_000_i64)]), None);
        let wide = guarded("sprintf", &[Value::from("%4000000000d"), Value::from(vec![Value::from(1_i64)])])
            .unwrap_err();
        assert_eq!(wide.to_string(), "sprintf: a width or precision over the 100000 driftless allows");
        assert!(refusal("sprintf", &[Value::from("%.999999f")]).is_some());
        assert_eq!(refusal("sprintf", &[Value::from("%100000d and %%123456789")]), None);
    }
}
