import duckdb

from precision_marketing import sql


def test_identifiers_and_literals_are_quoted_and_escaped():
    assert sql.identifier('odd "name"') == '"odd ""name"""'
    assert sql.string("O'Brien") == "'O''Brien'"
    assert sql.in_list(["C01", "it's"]) == "('C01', 'it''s')"
    assert sql.in_list([]) == "(null)"


def test_in_list_filters_in_duckdb_and_matches_nothing_when_empty():
    con = duckdb.connect()
    con.execute("create table t as select * from (values ('C01'), ('it''s'), ('C03')) v(id)")
    for values, expected in ((["it's", "C03", "C99"], 2), ([], 0)):
        ((count,),) = con.execute(
            f"select count(*) from t where id in {sql.in_list(values)}"
        ).fetchall()
        assert count == expected, values
