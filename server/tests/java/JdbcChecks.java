// pgJDBC (the PostgreSQL JDBC driver, which DBeaver, Metabase, Power BI's JDBC path and most
// JVM tools are built on) against a running Strata server.
//
// Usage: java -cp postgresql.jar JdbcChecks.java HOST PORT
// Each check prints its name; any failure throws and exits non-zero. The expected values are
// what the same calls return against PostgreSQL 15.

import java.io.StringReader;
import java.io.StringWriter;
import java.math.BigDecimal;
import java.sql.*;
import java.time.*;
import java.util.*;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyManager;

public class JdbcChecks {
    static String url;

    static Connection connect() throws SQLException {
        return DriverManager.getConnection(url, "strata", "strata");
    }

    static void check(boolean ok, Object what) {
        if (!ok) throw new AssertionError(String.valueOf(what));
    }

    static void eq(Object want, Object got) {
        check(Objects.equals(want, got), "want <" + want + "> got <" + got + ">");
    }

    static List<List<Object>> rows(ResultSet rs, String... columns) throws SQLException {
        List<List<Object>> out = new ArrayList<>();
        while (rs.next()) {
            List<Object> row = new ArrayList<>();
            for (String c : columns) row.add(rs.getObject(c));
            out.add(row);
        }
        rs.close();
        return out;
    }

    static String sqlState(Statement st, String sql) {
        try {
            st.execute(sql);
        } catch (SQLException e) {
            return e.getSQLState();
        }
        return "no error";
    }

    interface Check {
        void run() throws Exception;
    }

    static void run(String name, Check c) throws Exception {
        System.out.println("-- " + name);
        c.run();
    }

    public static void main(String[] args) throws Exception {
        url = "jdbc:postgresql://" + args[0] + ":" + args[1] + "/strata";
        try (Connection c = connect(); Statement st = c.createStatement()) {
            // Leftovers of an earlier run (when pointed at a long-lived server such as PostgreSQL).
            st.execute("DROP VIEW IF EXISTS jdbc_hosts");
            st.execute("DROP TABLE IF EXISTS jdbc_cpu, jdbc_types");
        }

        run("prepared statements and typed results", () -> {
            try (Connection c = connect(); Statement st = c.createStatement()) {
                st.execute("CREATE TABLE jdbc_cpu (ts timestamptz NOT NULL, host text NOT NULL, "
                        + "usage double precision, cores integer, price numeric(10,2), PRIMARY KEY (host, ts))");
                st.execute("COMMENT ON TABLE jdbc_cpu IS 'cpu samples'");
                st.execute("COMMENT ON COLUMN jdbc_cpu.usage IS 'percent busy'");
                try (PreparedStatement ps = c.prepareStatement(
                        "INSERT INTO jdbc_cpu (ts, host, usage, cores, price) VALUES (?, ?, ?, ?, ?)")) {
                    for (int i = 0; i < 20; i++) {
                        ps.setObject(1, OffsetDateTime.of(2024, 1, 1, 0, 0, i, 0, ZoneOffset.UTC));
                        ps.setString(2, "h" + (i % 2));
                        ps.setDouble(3, i * 1.5);
                        ps.setInt(4, i);
                        ps.setBigDecimal(5, new BigDecimal(i + ".25"));
                        ps.addBatch();
                    }
                    int[] counts = ps.executeBatch();
                    eq(20, counts.length);
                    eq(1, counts[19]);
                }
                try (PreparedStatement ps = c.prepareStatement(
                        "SELECT ts, host, usage, cores, price FROM jdbc_cpu WHERE host = ? AND cores >= ? ORDER BY ts")) {
                    // Past prepareThreshold (5) pgJDBC switches to a named server-side statement.
                    for (int round = 0; round < 7; round++) {
                        ps.setString(1, "h1");
                        ps.setInt(2, 10);
                        try (ResultSet rs = ps.executeQuery()) {
                            ResultSetMetaData md = rs.getMetaData();
                            eq("timestamptz", md.getColumnTypeName(1));
                            eq(Types.NUMERIC, md.getColumnType(5));
                            check(rs.next(), "a row");
                            eq(OffsetDateTime.of(2024, 1, 1, 0, 0, 11, 0, ZoneOffset.UTC),
                                    rs.getObject(1, OffsetDateTime.class));
                            eq("h1", rs.getString(2));
                            eq(16.5, rs.getDouble(3));
                            eq(11, rs.getInt(4));
                            eq(new BigDecimal("11.25"), rs.getBigDecimal(5));
                            int n = 1;
                            while (rs.next()) n++;
                            eq(5, n);
                        }
                    }
                }
            }
        });

        run("types through binary and text transfer", () -> {
            try (Connection c = connect(); Statement st = c.createStatement()) {
                st.execute("CREATE TABLE jdbc_types (ts timestamp NOT NULL, d date, t time, b bytea, u uuid, "
                        + "s smallint, r real, big bigint, v varchar(10), ok boolean)");
                try (PreparedStatement ps = c.prepareStatement("INSERT INTO jdbc_types VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
                    ps.setObject(1, LocalDateTime.of(2024, 2, 29, 12, 34, 56, 789_000_000));
                    ps.setObject(2, LocalDate.of(2024, 2, 29));
                    ps.setObject(3, LocalTime.of(13, 14, 15));
                    ps.setBytes(4, new byte[] {0, 1, (byte) 254, (byte) 255});
                    ps.setObject(5, UUID.fromString("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
                    ps.setShort(6, (short) 7);
                    ps.setFloat(7, 0.5f);
                    ps.setLong(8, Long.MAX_VALUE);
                    ps.setString(9, "abc");
                    ps.setBoolean(10, true);
                    eq(1, ps.executeUpdate());
                }
                // Statement (simple protocol, text) and PreparedStatement (binary where pgJDBC asks).
                for (int round = 0; round < 6; round++) {
                    try (PreparedStatement ps = c.prepareStatement("SELECT * FROM jdbc_types");
                         ResultSet rs = ps.executeQuery()) {
                        check(rs.next(), "a row");
                        eq(LocalDateTime.of(2024, 2, 29, 12, 34, 56, 789_000_000), rs.getObject(1, LocalDateTime.class));
                        eq(LocalDate.of(2024, 2, 29), rs.getObject(2, LocalDate.class));
                        eq(LocalTime.of(13, 14, 15), rs.getObject(3, LocalTime.class));
                        eq("[0, 1, -2, -1]", Arrays.toString(rs.getBytes(4)));
                        eq(UUID.fromString("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), rs.getObject(5));
                        eq((short) 7, rs.getShort(6));
                        eq(0.5f, rs.getFloat(7));
                        eq(Long.MAX_VALUE, rs.getLong(8));
                        eq("abc", rs.getString(9));
                        eq(true, rs.getBoolean(10));
                        ResultSetMetaData md = rs.getMetaData();
                        eq("uuid", md.getColumnTypeName(5));
                        eq(Types.BINARY, md.getColumnType(4));
                        eq(Types.SMALLINT, md.getColumnType(6));
                    }
                }
                try (ResultSet rs = st.executeQuery("SELECT interval '1 day 02:03:04' AS i, 1.50::numeric(5,2) AS n")) {
                    check(rs.next(), "a row");
                    eq("1 day 02:03:04", rs.getString(1));
                    eq(new BigDecimal("1.50"), rs.getBigDecimal(2));
                }
            }
        });

        run("errors carry SQLSTATEs; autocommit off means a transaction", () -> {
            try (Connection c = connect(); Statement st = c.createStatement()) {
                eq("42P01", sqlState(st, "SELECT * FROM no_such_table"));
                eq("42601", sqlState(st, "SELEC 1"));
                eq("22012", sqlState(st, "SELECT 1/0"));
                eq("42703", sqlState(st, "SELECT nope FROM jdbc_cpu"));
                c.setAutoCommit(false);
                st.execute("INSERT INTO jdbc_cpu (ts, host, usage) VALUES ('2024-06-01', 'tx', 1)");
                c.rollback();
                st.execute("INSERT INTO jdbc_cpu (ts, host, usage) VALUES ('2024-06-02', 'tx', 2)");
                c.commit();
                c.setAutoCommit(true);
                try (ResultSet rs = st.executeQuery("SELECT usage FROM jdbc_cpu WHERE host = 'tx'")) {
                    eq(List.of(List.of(2.0)), rows(rs, "usage"));
                }
            }
        });

        run("fetch size streams through portal row limits", () -> {
            try (Connection c = connect()) {
                c.setAutoCommit(false); // pgJDBC only uses a cursor (portal) outside autocommit
                try (PreparedStatement ps = c.prepareStatement(
                        "SELECT x FROM generate_series(1, 1000) AS g(x) ORDER BY x")) {
                    ps.setFetchSize(64);
                    try (ResultSet rs = ps.executeQuery()) {
                        long sum = 0, n = 0;
                        while (rs.next()) {
                            sum += rs.getLong(1);
                            n++;
                        }
                        eq(1000L, n);
                        eq(500500L, sum);
                    }
                }
                c.commit();
            }
        });

        run("CopyManager: COPY FROM STDIN and TO STDOUT", () -> {
            try (Connection c = connect()) {
                CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
                StringBuilder in = new StringBuilder();
                for (int i = 0; i < 100; i++) in.append("2024-03-01 00:00:").append(String.format("%02d", i % 60))
                        .append("+00\tc").append(i / 60).append('\t').append(i).append('\n');
                eq(100L, copy.copyIn("COPY jdbc_cpu (ts, host, cores) FROM STDIN", new StringReader(in.toString())));
                StringWriter out = new StringWriter();
                eq(40L, copy.copyOut("COPY (SELECT cores FROM jdbc_cpu WHERE host = 'c1' ORDER BY ts) TO STDOUT", out));
                eq("60", out.toString().split("\n")[0]);
            }
        });

        run("DatabaseMetaData, as DBeaver, Metabase and other JDBC tools read it", () -> {
            try (Connection c = connect(); Statement st = c.createStatement()) {
                st.execute("CREATE VIEW jdbc_hosts AS SELECT DISTINCT host FROM jdbc_cpu");
                DatabaseMetaData md = c.getMetaData();
                check(md.getDatabaseProductVersion().startsWith("1"), md.getDatabaseProductVersion());
                eq("PostgreSQL", md.getDatabaseProductName());
                check(rows(md.getSchemas(), "TABLE_SCHEM").contains(List.of("public")), "public schema");
                eq(List.of(List.of("strata")), rows(md.getCatalogs(), "TABLE_CAT"));
                eq(List.of(Arrays.asList("jdbc_cpu", "TABLE", "cpu samples"), Arrays.asList("jdbc_types", "TABLE", null),
                                Arrays.asList("jdbc_hosts", "VIEW", null)),
                        rows(md.getTables(null, "public", "jdbc%", new String[] {"TABLE", "VIEW"}),
                                "TABLE_NAME", "TABLE_TYPE", "REMARKS"));
                List<List<Object>> columns = rows(md.getColumns(null, "public", "jdbc_cpu", "%"),
                        "COLUMN_NAME", "TYPE_NAME", "DATA_TYPE", "COLUMN_SIZE", "DECIMAL_DIGITS", "NULLABLE",
                        "ORDINAL_POSITION", "REMARKS");
                eq(Arrays.asList("ts", "timestamptz", Types.TIMESTAMP, 35, 6, DatabaseMetaData.columnNoNulls, 1, null),
                        columns.get(0));
                eq(Arrays.asList("host", "text", Types.VARCHAR, Integer.MAX_VALUE, 0, DatabaseMetaData.columnNoNulls, 2, null),
                        columns.get(1));
                eq(Arrays.asList("usage", "float8", Types.DOUBLE, 17, 17, DatabaseMetaData.columnNullable, 3, "percent busy"),
                        columns.get(2));
                eq(Arrays.asList("price", "numeric", Types.NUMERIC, 10, 2, DatabaseMetaData.columnNullable, 5, null),
                        columns.get(4));
                eq(5, columns.size());
                eq(List.of(List.of("host", 1), List.of("ts", 2)),
                        rows(md.getPrimaryKeys(null, "public", "jdbc_cpu"), "COLUMN_NAME", "KEY_SEQ"));
                eq(List.of(), rows(md.getImportedKeys(null, "public", "jdbc_cpu"), "FKCOLUMN_NAME"));
                eq(List.of(List.of("jdbc_cpu_pkey", "host", false), List.of("jdbc_cpu_pkey", "ts", false)),
                        rows(md.getIndexInfo(null, "public", "jdbc_cpu", false, true),
                                "INDEX_NAME", "COLUMN_NAME", "NON_UNIQUE"));
                check(rows(md.getTypeInfo(), "TYPE_NAME").contains(List.of("timestamptz")), "timestamptz in type info");
                check(!rows(md.getTableTypes(), "TABLE_TYPE").isEmpty(), "table types");
            }
        });

        System.out.println("all jdbc client checks passed");
    }
}
