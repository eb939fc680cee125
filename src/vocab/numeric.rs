//! Checked arithmetic on the 256-bit column types (`Value::U256`, 32 bytes
//! big-endian). Every operation returns `None` instead of wrapping, so callers
//! turn it into `Overflow`/`Underflow`; the upcoming KV numerics and
//! accumulators share these.

/// `a + b`, or `None` on overflow.
pub fn u256_add(a: &[u8; 32], b: &[u8; 32]) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = s as u8;
        carry = s >> 8;
    }
    (carry == 0).then_some(out)
}

/// `a - b`, or `None` below zero.
pub fn u256_sub(a: &[u8; 32], b: &[u8; 32]) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    (borrow == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::{u256_add, u256_sub};

    #[test]
    fn u256_arithmetic_carries_and_refuses_wraparound() {
        let mut one = [0u8; 32];
        one[31] = 1;
        let mut a = [0u8; 32];
        a[31] = 0xFF;
        let s = u256_add(&a, &one).unwrap();
        assert_eq!((s[30], s[31]), (1, 0));
        assert_eq!(u256_sub(&s, &one).unwrap(), a);
        assert!(u256_sub(&[0u8; 32], &one).is_none());
        assert!(u256_add(&[0xFF; 32], &one).is_none());
    }
}
