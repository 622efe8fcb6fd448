//! Bounds on regorus builtins that allocate in one call.
//!
//! Time limits are checked between steps of an evaluation, but `numbers.range(1, 1e12)` asks
//! for its whole array at once: regorus 0.14 reserves it before any check, the allocation
//! fails and the process aborts. Both evaluators get the range builtins with a bound on the
//! number of elements: the interpreter through extensions (which it consults before its
//! builtins), the VM through the check in its builtin wrappers ([`crate::vm`]).

use regorus::{Engine, Value};

/// The most elements `numbers.range` and `numbers.range_step` may make.
pub(crate) const MAX_RANGE: u128 = 1_000_000;

/// The builtins bounded here.
pub(crate) const RANGE: &str = "numbers.range";
pub(crate) const RANGE_STEP: &str = "numbers.range_step";

fn integer(value: &Value) -> Option<i64> {
    value.as_number().ok().filter(|n| n.is_integer()).and_then(|n| n.as_i64())
}

/// Why a call of `name` (a range builtin) with `args` is refused: it would make more than
/// [`MAX_RANGE`] elements. `None` when it would not, or when the arguments are not integers
/// (the builtin itself reports those).
pub(crate) fn range_refusal(name: &str, args: &[Value]) -> Option<String> {
    let from = integer(args.first()?)?;
    let to = integer(args.get(1)?)?;
    let step =
        if name == RANGE_STEP { u128::try_from(integer(args.get(2)?)?).ok().filter(|s| *s > 0)? } else { 1 };
    let count = (i128::from(to) - i128::from(from)).unsigned_abs() / step + 1;
    (count > MAX_RANGE)
        .then(|| format!("{name}: {count} elements, more than the {MAX_RANGE} driftless allows"))
}

/// `numbers.range(from, to)` and `numbers.range_step(from, to, step)` as OPA defines them
/// (both ends included, counting down when `to < from`), refused past [`MAX_RANGE`] elements.
fn range(name: &'static str, args: &[Value]) -> anyhow::Result<Value> {
    if let Some(refusal) = range_refusal(name, args) {
        anyhow::bail!(refusal);
    }
    let operand = |i: usize| {
        args.get(i)
            .and_then(integer)
            .ok_or_else(|| anyhow::anyhow!("{name}: operand {} must be an integer", i + 1))
    };
    let (from, to) = (operand(0)?, operand(1)?);
    let step = if name == RANGE_STEP {
        let step = operand(2).ok().filter(|s| *s > 0);
        step.ok_or_else(|| anyhow::anyhow!("{name}: step must be a positive integer"))?
    } else {
        1
    };
    let (from, to, step) = (i128::from(from), i128::from(to), i128::from(step));
    let mut values = Vec::new();
    let mut at = from;
    while (from <= to && at <= to) || (from > to && at >= to) {
        // Within i64: `at` lies between `from` and `to`.
        values.push(Value::from(i64::try_from(at).unwrap_or_default()));
        at = if from <= to { at + step } else { at - step };
    }
    Ok(Value::from(values))
}

/// Gives `engine`'s interpreter the bounded range builtins.
pub(crate) fn install(engine: &mut Engine) {
    for (name, nargs) in [(RANGE, 2), (RANGE_STEP, 3)] {
        let added = engine.add_extension(
            name.to_owned(),
            nargs,
            Box::new(move |args: Vec<Value>| range(name, &args)),
        );
        if let Err(e) = added {
            tracing::warn!(builtin = name, error = %e, "the bounded builtin was not installed");
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
    fn ranges_count_up_and_down_with_both_ends() {
        assert_eq!(ints(&range(RANGE, &[Value::from(1_i64), Value::from(4_i64)]).unwrap()), [1, 2, 3, 4]);
        assert_eq!(ints(&range(RANGE, &[Value::from(2_i64), Value::from(-1_i64)]).unwrap()), [2, 1, 0, -1]);
        let step =
            |a: i64, b: i64, s: i64| range(RANGE_STEP, &[Value::from(a), Value::from(b), Value::from(s)]);
        assert_eq!(ints(&step(0, 10, 3).unwrap()), [0, 3, 6, 9]);
        assert_eq!(ints(&step(10, 0, 4).unwrap()), [10, 6, 2]);
        assert!(step(0, 10, 0).is_err());
        assert!(step(0, 10, -1).is_err());
        assert!(range(RANGE, &[Value::from(1.5), Value::from(3_i64)]).is_err());
    }

    #[test]
    fn huge_ranges_are_refused_before_allocating() {
        let err = range(RANGE, &[Value::from(1_i64), Value::from(1_000_000_000_000_i64)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "numbers.range: 1000000000000 elements, more than the 1000000 driftless allows"
        );
        let extreme = [Value::from(i64::MIN), Value::from(i64::MAX), Value::from(1_i64)];
        assert!(range(RANGE_STEP, &extreme).is_err());
        assert_eq!(range_refusal(RANGE, &[Value::from(1_i64), Value::from(1_000_000_i64)]), None);
    }
}
