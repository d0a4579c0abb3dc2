//! DECIMAL values as text: plain formatting at a fixed scale and exact parsing with rescaling.
//!
//! The wire carries decimals as ASCII text. Writers differ (`12.34`, `-0.5`, `1E+2`), so the
//! parser accepts an optional sign, digits with an optional point and an optional exponent, and
//! rescales exactly to the column scale, rounding half-up (away from zero) when digits are
//! dropped. The result must fit the column precision.

/// `10^i` for `i` in `0..=38`.
pub(crate) const POW10: [u128; 39] = {
    let mut t = [1u128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// True if `|v| < 10^precision`.
#[inline]
pub(crate) fn fits_precision(v: i128, precision: u8) -> bool {
    match POW10.get(usize::from(precision)) {
        Some(&limit) => v.unsigned_abs() < limit,
        None => true,
    }
}

/// Where [`format_decimal`]'s text ends in its buffer; there is room for the longest text
/// (sign, 39 digits, point, and the leading zeros of a scale up to 38) before it.
pub(crate) const DECIMAL_TEXT_END: usize = 48;
/// Size of [`format_decimal`]'s buffer: 16 bytes after the text end, so that any text of at
/// most 16 bytes can be copied out as one 16-byte block.
pub(crate) const DECIMAL_BUF: usize = DECIMAL_TEXT_END + 16;

/// `"00" "01" … "99"`: two ASCII digits per entry.
const DIGIT_PAIRS: [[u8; 2]; 100] = {
    let mut t = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    t
};

/// Writes the plain text of the unscaled value `v` at `scale` (`1234`, 2 → `12.34`;
/// `-50`, 2 → `-0.50`) so that it ends at [`DECIMAL_TEXT_END`] in `buf`, and returns where
/// it starts.
#[inline]
pub(crate) fn format_decimal(v: i128, scale: u8, buf: &mut [u8; DECIMAL_BUF]) -> usize {
    let scale = usize::from(scale.min(38));
    let mut pos = match u64::try_from(v.unsigned_abs()) {
        Ok(x) if scale <= 19 => format_u64(x, scale, buf),
        _ => format_wide(v.unsigned_abs(), scale, buf),
    };
    if v < 0 {
        pos -= 1;
        buf[pos] = b'-';
    }
    pos
}

/// [`format_decimal`]'s digits for `|v| < 2^64` and `scale <= 19`, two at a time.
#[inline]
fn format_u64(mut x: u64, scale: usize, buf: &mut [u8; DECIMAL_BUF]) -> usize {
    let mut pos = DECIMAL_TEXT_END;
    let mut frac = scale;
    while frac >= 2 {
        pos -= 2;
        buf[pos..pos + 2].copy_from_slice(&DIGIT_PAIRS[(x % 100) as usize]);
        x /= 100;
        frac -= 2;
    }
    if frac == 1 {
        pos -= 1;
        buf[pos] = b'0' + (x % 10) as u8;
        x /= 10;
    }
    if scale > 0 {
        pos -= 1;
        buf[pos] = b'.';
    }
    while x >= 100 {
        pos -= 2;
        buf[pos..pos + 2].copy_from_slice(&DIGIT_PAIRS[(x % 100) as usize]);
        x /= 100;
    }
    if x >= 10 {
        pos -= 2;
        buf[pos..pos + 2].copy_from_slice(&DIGIT_PAIRS[x as usize]);
    } else {
        pos -= 1;
        buf[pos] = b'0' + x as u8;
    }
    pos
}

/// [`format_decimal`]'s digits for any magnitude and scale, one at a time.
fn format_wide(mut x: u128, scale: usize, buf: &mut [u8; DECIMAL_BUF]) -> usize {
    let mut pos = DECIMAL_TEXT_END;
    for _ in 0..scale {
        pos -= 1;
        buf[pos] = b'0' + (x % 10) as u8;
        x /= 10;
    }
    if scale > 0 {
        pos -= 1;
        buf[pos] = b'.';
    }
    loop {
        pos -= 1;
        buf[pos] = b'0' + (x % 10) as u8;
        x /= 10;
        if x == 0 {
            break;
        }
    }
    pos
}

/// Parses decimal text to the unscaled integer at `scale`; the error says why it failed.
#[inline]
pub(crate) fn parse_decimal(text: &[u8], precision: u8, scale: u8) -> Result<i128, &'static str> {
    match parse_plain(text, precision, scale) {
        Some(v) => Ok(v),
        None => parse_general(text, precision, scale),
    }
}

/// The common case of [`parse_decimal`]: `[-]digits[.digits]` with at most 19 digits, no more
/// fraction digits than the scale, and a value that fits. `None` for anything else (which
/// [`parse_general`] then accepts or rejects).
#[inline(always)]
fn parse_plain(text: &[u8], precision: u8, scale: u8) -> Option<i128> {
    let (negative, body) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if body.len() > 19 {
        return None;
    }
    let mut m: u64 = 0;
    let mut digits = 0usize;
    let mut point = None;
    for (i, &b) in body.iter().enumerate() {
        let d = b.wrapping_sub(b'0');
        if d < 10 {
            // At most 19 digits: below 10^19 < 2^64.
            m = m * 10 + u64::from(d);
            digits += 1;
        } else if b == b'.' && point.is_none() {
            point = Some(i);
        } else {
            return None;
        }
    }
    if digits == 0 {
        return None;
    }
    let frac = point.map_or(0, |p| body.len() - p - 1);
    let up = usize::from(scale).checked_sub(frac)?;
    let v = u128::from(m).checked_mul(*POW10.get(up)?)?;
    if POW10
        .get(usize::from(precision))
        .is_some_and(|&limit| v >= limit)
    {
        return None;
    }
    // v < 10^38 < i128::MAX.
    let v = v as i128;
    Some(if negative { -v } else { v })
}

/// [`parse_decimal`] for any text: exponents, long mantissas, rounding.
fn parse_general(text: &[u8], precision: u8, scale: u8) -> Result<i128, &'static str> {
    const SYNTAX: &str = "is not a decimal number";
    const RANGE: &str = "does not fit";
    let mut i = 0;
    let negative = match text.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let int_start = i;
    while text.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let int_digits = &text[int_start..i];
    let mut frac_digits: &[u8] = &[];
    if text.get(i) == Some(&b'.') {
        i += 1;
        let s = i;
        while text.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        frac_digits = &text[s..i];
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(SYNTAX);
    }
    // Exponent, saturated far beyond anything that can fit.
    let mut exp: i64 = 0;
    if matches!(text.get(i), Some(b'e' | b'E')) {
        i += 1;
        let exp_neg = match text.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let s = i;
        while let Some(d) = text.get(i).filter(|d| d.is_ascii_digit()) {
            exp = (exp * 10 + i64::from(d - b'0')).min(1_000_000_000);
            i += 1;
        }
        if i == s {
            return Err(SYNTAX);
        }
        if exp_neg {
            exp = -exp;
        }
    }
    if i != text.len() {
        return Err(SYNTAX);
    }
    let n = (int_digits.len() + frac_digits.len()) as i64;
    // value = mantissa * 10^(exp - frac); unscaled = mantissa * 10^shift.
    let shift = exp - frac_digits.len() as i64 + i64::from(scale);
    let limit = POW10
        .get(usize::from(precision))
        .copied()
        .unwrap_or(u128::MAX);
    if n <= 18 {
        // Fast path: the mantissa fits u64 without overflow checks.
        let mut m: u64 = 0;
        for &d in int_digits.iter().chain(frac_digits) {
            m = m * 10 + u64::from(d - b'0');
        }
        let acc: u128 = if shift >= 0 {
            if m == 0 {
                0
            } else {
                let factor = usize::try_from(shift)
                    .ok()
                    .and_then(|s| POW10.get(s))
                    .ok_or(RANGE)?;
                u128::from(m).checked_mul(*factor).ok_or(RANGE)?
            }
        } else {
            match usize::try_from(-shift).ok().and_then(|k| POW10.get(k)) {
                // Drop k digits, rounding half-up: the first dropped digit is >= 5 exactly when
                // the remainder is at least half of 10^k. m < 10^18 so k > 19 leaves 0.
                Some(&p) if p <= u128::from(u64::MAX) => {
                    let p = p as u64;
                    u128::from(m / p + u64::from(m % p >= p / 2))
                }
                _ => 0,
            }
        };
        if acc >= limit {
            return Err(RANGE);
        }
        let v = acc as i128;
        return Ok(if negative { -v } else { v });
    }
    // Number of mantissa digits kept before rescaling up; the next one rounds.
    let keep = if shift < 0 { n + shift } else { n };
    let mut acc: u128 = 0;
    let mut round_up = false;
    for (idx, &d) in int_digits.iter().chain(frac_digits).enumerate() {
        let idx = idx as i64;
        let d = d - b'0';
        if idx < keep {
            acc = acc
                .checked_mul(10)
                .and_then(|a| a.checked_add(u128::from(d)))
                .ok_or(RANGE)?;
        } else {
            if idx == keep {
                round_up = d >= 5;
            }
            break;
        }
    }
    if shift > 0 && acc != 0 {
        let factor = usize::try_from(shift)
            .ok()
            .and_then(|s| POW10.get(s))
            .ok_or(RANGE)?;
        acc = acc.checked_mul(*factor).ok_or(RANGE)?;
    }
    if round_up {
        acc += 1;
    }
    if acc >= limit {
        return Err(RANGE);
    }
    // acc < 10^38 < i128::MAX here.
    let v = acc as i128;
    Ok(if negative { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(v: i128, s: u8) -> String {
        let mut buf = [0u8; DECIMAL_BUF];
        let start = format_decimal(v, s, &mut buf);
        String::from_utf8(buf[start..DECIMAL_TEXT_END].to_vec()).unwrap()
    }

    #[test]
    fn formats_plain_text_at_scale() {
        assert_eq!(fmt(1234, 2), "12.34");
        assert_eq!(fmt(-50, 2), "-0.50");
        assert_eq!(fmt(0, 2), "0.00");
        assert_eq!(fmt(0, 0), "0");
        assert_eq!(fmt(-7, 0), "-7");
        assert_eq!(fmt(5, 4), "0.0005");
        assert_eq!(fmt(123_400, 4), "12.3400");
        assert_eq!(
            fmt(-(POW10[38] as i128 - 1), 18),
            "-99999999999999999999.999999999999999999"
        );
        assert_eq!(
            fmt(i128::MIN, 0),
            "-170141183460469231731687303715884105728"
        );
    }

    #[test]
    fn fast_and_wide_formatting_agree() {
        let mut values = vec![
            0i128,
            1,
            9,
            10,
            99,
            100,
            101,
            999,
            1000,
            12_345_678_901_234_567,
        ];
        for &p in &POW10 {
            values.push(p as i128);
            values.push(p as i128 - 1);
        }
        values.push(i128::from(u64::MAX));
        values.push(i128::from(u64::MAX) + 1);
        for v in values.clone() {
            values.push(-v);
        }
        for v in values {
            for s in 0..=38u8 {
                let mut a = [0u8; DECIMAL_BUF];
                let mut b = [0u8; DECIMAL_BUF];
                let sa = format_decimal(v, s, &mut a);
                let mut sb = format_wide(v.unsigned_abs(), usize::from(s), &mut b);
                if v < 0 {
                    sb -= 1;
                    b[sb] = b'-';
                }
                assert_eq!(
                    a[sa..DECIMAL_TEXT_END],
                    b[sb..DECIMAL_TEXT_END],
                    "{v} at scale {s}"
                );
            }
        }
    }

    #[test]
    fn parses_and_rescales() {
        let ok = |t: &str, p, s| parse_decimal(t.as_bytes(), p, s);
        assert_eq!(ok("12.34", 10, 2), Ok(1234));
        assert_eq!(ok("-0.50", 10, 2), Ok(-50));
        assert_eq!(ok("-0.5", 18, 4), Ok(-5000));
        assert_eq!(ok("1E+2", 10, 2), Ok(10000));
        assert_eq!(ok("1e2", 10, 0), Ok(100));
        assert_eq!(ok("1.5E-1", 10, 2), Ok(15));
        assert_eq!(ok("0", 18, 4), Ok(0));
        assert_eq!(ok("-0", 18, 4), Ok(0));
        assert_eq!(ok("+7", 5, 0), Ok(7));
        assert_eq!(ok(".5", 5, 1), Ok(5));
        assert_eq!(ok("5.", 5, 1), Ok(50));
        assert_eq!(ok("1000000.0001", 18, 4), Ok(10_000_000_001));
        assert_eq!(
            ok("000000000000000000000000000000000000000000001", 5, 0),
            Ok(1)
        );
        assert_eq!(ok("0E+1000000", 5, 0), Ok(0));
        assert_eq!(ok("1E-1000000", 5, 2), Ok(0));
        // Half-up rounding when digits are dropped.
        assert_eq!(ok("1.005", 10, 2), Ok(101));
        assert_eq!(ok("1.00499999", 10, 2), Ok(100));
        assert_eq!(ok("-1.005", 10, 2), Ok(-101));
        assert_eq!(ok("0.5", 3, 0), Ok(1));
        assert_eq!(ok("0.05", 3, 0), Ok(0));
        assert_eq!(ok("9.995", 3, 2), Err("does not fit"));
        assert_eq!(ok("9.994", 3, 2), Ok(999));
        assert_eq!(
            ok("99999999999999999999999999999999999999", 38, 0),
            Ok(POW10[38] as i128 - 1)
        );
        // Long mantissas (slow path) round the same way as short ones (fast path).
        assert_eq!(ok("1.0049999999999999999999", 10, 2), Ok(100));
        assert_eq!(ok("1.0050000000000000000000", 10, 2), Ok(101));
        assert_eq!(ok("-0.0000000000000000000000005", 10, 2), Ok(0));
        assert_eq!(ok("0.5", 38, 0), Ok(1));
        assert_eq!(ok("5E-1", 38, 0), Ok(1));
        assert_eq!(ok("4E-1", 38, 0), Ok(0));
        assert_eq!(ok("999999999999999999E-19", 38, 0), Ok(0));
        assert_eq!(ok("999999999999999999E-18", 38, 0), Ok(1));
        assert_eq!(
            ok("123456789012345678E+20", 38, 0),
            Ok(12_345_678_901_234_567_800_000_000_000_000_000_000)
        );
        assert_eq!(ok("123456789012345678E+21", 38, 0), Err("does not fit"));
    }

    #[test]
    fn plain_fast_path_agrees_with_the_general_parser() {
        let texts = [
            "0",
            "-0",
            "1",
            "-1",
            "12.34",
            "-12.34",
            "999.99",
            "0.5",
            ".5",
            "5.",
            "-.5",
            "1234567890123456789",
            "9999999999999999999",
            "99999999999999999.99",
            "1.",
            "00.10",
            "12.345",
            "1e2",
            "+1",
            "",
            ".",
            "-",
            "1.2.3",
            "1-2",
            " 1",
        ];
        for t in texts {
            for (p, s) in [
                (1u8, 0u8),
                (3, 1),
                (5, 2),
                (10, 2),
                (18, 2),
                (18, 4),
                (19, 0),
                (38, 18),
                (38, 0),
                (38, 38),
            ] {
                let general = parse_general(t.as_bytes(), p, s);
                if let Some(v) = parse_plain(t.as_bytes(), p, s) {
                    assert_eq!(Ok(v), general, "{t:?} at ({p},{s})");
                }
                assert_eq!(
                    parse_decimal(t.as_bytes(), p, s),
                    general,
                    "{t:?} at ({p},{s})"
                );
            }
        }
        assert_eq!(parse_plain(b"999.99", 18, 2), Some(99999));
        assert_eq!(parse_plain(b"-0.5", 18, 4), Some(-5000));
        assert_eq!(parse_plain(b"1e2", 18, 2), None);
    }

    #[test]
    fn rejects_bad_text_and_overflow() {
        for t in [
            "", "-", "+", ".", "1.2.3", "1e", "1e+", "abc", "1 ", " 1", "NaN", "Infinity", "1_0",
            "--1", "0x10",
        ] {
            assert_eq!(
                parse_decimal(t.as_bytes(), 10, 2),
                Err("is not a decimal number"),
                "{t:?}"
            );
        }
        for t in [
            "123456789",
            "1E+8",
            "1E+1000000",
            "999999999999999999999999999999999999999999",
        ] {
            assert_eq!(
                parse_decimal(t.as_bytes(), 10, 2),
                Err("does not fit"),
                "{t:?}"
            );
        }
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn text(v: i128, s: u8) -> String {
            let mut buf = [0u8; DECIMAL_BUF];
            let start = format_decimal(v, s, &mut buf);
            String::from_utf8(buf[start..DECIMAL_TEXT_END].to_vec()).unwrap()
        }

        fn value() -> impl Strategy<Value = (u8, u8, i128)> {
            (1u8..=38)
                .prop_flat_map(|p| (Just(p), 0..=p.min(18)))
                .prop_flat_map(|(p, s)| {
                    let max = POW10[usize::from(p)] as i128 - 1;
                    (Just(p), Just(s), prop_oneof![-max..=max, -99i128..=99])
                })
                .prop_map(|(p, s, v)| {
                    let max = POW10[usize::from(p)] as i128 - 1;
                    (p, s, v.clamp(-max, max))
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            #[test]
            fn fast_path_agrees_with_the_general_parser(
                t in "-?[0-9]{0,12}\\.?[0-9]{0,12}",
                p in 1u8..=38,
                s in 0u8..=20,
            ) {
                let s = s.min(p);
                let general = parse_general(t.as_bytes(), p, s);
                if let Some(v) = parse_plain(t.as_bytes(), p, s) {
                    prop_assert_eq!(Ok(v), general);
                }
                prop_assert_eq!(parse_decimal(t.as_bytes(), p, s), general);
            }

            #[test]
            fn plain_text_roundtrips((p, s, v) in value()) {
                prop_assert_eq!(parse_decimal(text(v, s).as_bytes(), p, s), Ok(v));
            }

            #[test]
            fn exponent_and_padding_forms((p, s, v) in value(), pad in 0usize..25, shift in 0i64..5) {
                // Digits with an explicit exponent: |v| * 10^-s written as D E -s.
                let digits = v.unsigned_abs().to_string();
                let sign = if v < 0 { "-" } else { "" };
                let sci = format!("{sign}{digits}E{}", -i64::from(s));
                prop_assert_eq!(parse_decimal(sci.as_bytes(), p, s), Ok(v));
                // Trailing zeros after the point do not change the value.
                let padded = format!("{}{}{}", text(v, s), if s == 0 { "." } else { "" }, "0".repeat(pad));
                prop_assert_eq!(parse_decimal(padded.as_bytes(), p, s), Ok(v));
                // Moving digits into the exponent does not change the value.
                let moved = format!("{sign}{digits}{}E{}", "0".repeat(shift as usize), -i64::from(s) - shift);
                prop_assert_eq!(parse_decimal(moved.as_bytes(), p, s), Ok(v));
            }

            #[test]
            fn extra_digit_rounds_half_up((p, s, v) in value(), d in 0u8..10) {
                prop_assume!(s < 38);
                // v at scale s followed by one more digit d: rounds away from zero when d >= 5.
                let t = format!("{}{}{}", text(v, s), if s == 0 { "." } else { "" }, d);
                let away = i128::from(d >= 5);
                let expected = if v < 0 || (v == 0 && t.starts_with('-')) { v - away } else { v + away };
                let got = parse_decimal(t.as_bytes(), p, s);
                if fits_precision(expected, p) {
                    prop_assert_eq!(got, Ok(expected));
                } else {
                    prop_assert_eq!(got, Err("does not fit"));
                }
            }
        }
    }
}
