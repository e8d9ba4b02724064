"""The console's pages, one router per screen: login, 概要, 状況確認, 詳細, 連携設定,
the upload and the audit log."""
