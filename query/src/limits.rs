//! Guards against statements whose syntax trees are too deep to process.
//!
//! The parser builds `1 + 1 + ... + 1` iteratively, but rewriting, planning, printing and
//! dropping the tree recurse once per level; a long enough chain would overflow the stack
//! and take the whole server down. Postgres answers such statements with 54001 ("stack
//! depth limit exceeded"); Strata does the same before parsing, from the tokens: the depth
//! bound is the paren nesting plus, at each enclosing level, the operators chained since
//! the last comma. Long flat lists (`VALUES (..), (..)`, `IN (..)`) stay cheap.

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::error::{QueryError, Result};

/// Deepest expression accepted.
pub const MAX_EXPRESSION_DEPTH: usize = 1000;

/// Rejects `sql` if an expression in it may nest deeper than [`MAX_EXPRESSION_DEPTH`].
pub fn check_depth(sql: &str) -> Result<()> {
    let tokens = match Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() {
        Ok(t) => t,
        // The parser reports tokenizer errors with a position; let it.
        Err(_) => return Ok(()),
    };
    let mut levels: Vec<usize> = vec![0];
    let mut deepest = 0;
    for t in &tokens {
        match t {
            Token::LParen | Token::LBracket => levels.push(0),
            Token::RParen | Token::RBracket => {
                if levels.len() > 1 {
                    levels.pop();
                }
            }
            Token::Comma => *levels.last_mut().expect("never empty") = 0,
            Token::SemiColon => levels = vec![0],
            Token::Plus
            | Token::Minus
            | Token::Mul
            | Token::Div
            | Token::Mod
            | Token::Eq
            | Token::DoubleEq
            | Token::Neq
            | Token::Lt
            | Token::Gt
            | Token::LtEq
            | Token::GtEq
            | Token::StringConcat
            | Token::Caret
            | Token::Ampersand
            | Token::Pipe
            | Token::DoubleColon => *levels.last_mut().expect("never empty") += 1,
            Token::Word(w)
                if matches!(
                    w.keyword,
                    Keyword::AND | Keyword::OR | Keyword::NOT | Keyword::CASE | Keyword::WHEN
                ) =>
            {
                *levels.last_mut().expect("never empty") += 1
            }
            _ => continue,
        }
        let depth = levels.len() + levels.iter().sum::<usize>();
        deepest = deepest.max(depth);
        if deepest > MAX_EXPRESSION_DEPTH {
            return Err(QueryError::TooComplex(format!(
                "stack depth limit exceeded: an expression nests more than {MAX_EXPRESSION_DEPTH} levels"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_chains_are_rejected_and_long_lists_are_not() {
        assert!(check_depth(&format!("SELECT 1{}", " + 1".repeat(5_000))).is_err());
        assert!(check_depth(&format!(
            "SELECT {}1{}",
            "(".repeat(2_000),
            ")".repeat(2_000)
        ))
        .is_err());
        let values: Vec<String> = (0..50_000)
            .map(|i| format!("({i}, -{i}, 'x' || 'y')"))
            .collect();
        assert!(check_depth(&format!("INSERT INTO t VALUES {}", values.join(", "))).is_ok());
        let list: Vec<String> = (0..50_000).map(|i| i.to_string()).collect();
        assert!(check_depth(&format!("SELECT * FROM t WHERE x IN ({})", list.join(","))).is_ok());
        assert!(check_depth("SELECT a + b * c FROM t WHERE x = 1 AND y = 2").is_ok());
    }
}
