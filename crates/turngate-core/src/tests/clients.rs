//! App clients: sequenced delivery, replay on reconnect, connection counting.

use expect_test::expect;

use super::{check, check_with, config};

#[test]
fn a_reconnecting_client_gets_what_it_missed() {
    check(
        "
        ready
        connect 1
        send hello
        send world
        disconnect 1
        send missed
        connect 2 2
        send live
        ",
        expect![[r#"
            ready
              · backend ready
            connect 1
            send hello
              app deliver conn1 #1 hello
            send world
              app deliver conn1 #2 world
            disconnect 1
            send missed
            connect 2 2
              app deliver conn2 #3 missed
            send live
              app deliver conn2 #4 live
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn a_client_too_far_behind_is_told_about_the_gap() {
    let mut config = config();
    config.outbox_capacity = 2;
    check_with(
        config,
        "
        ready
        send one
        send two
        send three
        connect 1 0
        ",
        expect![[r#"
            ready
              · backend ready
            send one
            send two
            send three
            connect 1 0
              app gap conn1 oldest #2
              app deliver conn1 #2 two
              app deliver conn1 #3 three
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn the_session_ends_only_after_the_last_client_stays_away_for_the_grace_period() {
    let mut config = config();
    config.end_when_clients_gone = true;
    config.dead_air.enabled = false;
    check_with(
        config,
        "
        ready
        connect 1
        connect 2
        send hi
        disconnect 1
        +40s
        disconnect 2
        +20s connect 3 0
        disconnect 3
        disconnect 9
        timeout
        send too late
        ",
        expect![[r#"
            ready
              · backend ready
            connect 1
            connect 2
            send hi
              app deliver conn1 #1 hi
              app deliver conn2 #1 hi
            disconnect 1
            +40s
            disconnect 2
            +20s connect 3 0
              app deliver conn3 #1 hi
            disconnect 3
            disconnect 9
              · ignored: UnknownConnection
            timeout @90000ms
              hang up
              app ended: clients_gone
            send too late
              · ignored: SessionOver
            = ended (clients_gone), gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}
