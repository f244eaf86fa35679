// One run model for every front end: each field of the run's field table survives
// config.json -> the run dialog ("Run again") -> "Copy as command line" -> the `train` command's
// parser, exactly. One row per field with a flag sets that field to a value other than its default;
// a field added to the table without a row here fails everyFieldHasARow().

#include "widgets/dialogs/prunescopefield.h"
#include "widgets/dialogs/runconfigdialog.h"
#include "widgets/dialogs/startfromfield.h"
#include "config/runconfig.h"
#include "config/runfields.h"

#include <QClipboard>
#include <QComboBox>
#include <QCommandLineParser>
#include <QDir>
#include <QDoubleSpinBox>
#include <QGuiApplication>
#include <QJsonDocument>
#include <QLineEdit>
#include <QPushButton>
#include <QSet>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTest>

#include <limits>

using namespace leantune;

namespace {

// A row: its name, and the fields it sets ("key=value", the value as RunField::set takes it). The
// first field names the field the row is for.
struct Row {
    const char *name;
    QStringList fields;
};

// DIR: a folder holding the folders the path fields name.
QList<Row> rows(const QString &dir)
{
    const auto path = [&dir](const char *name) { return QDir(dir).filePath(QLatin1String(name)); };
    const auto set = [](const char *key, const QString &value) -> QString {
        return QLatin1String(key) + QLatin1Char('=') + value;
    };
    return {
        { "data (a space in the path)", { set("data", path("training data")) } },
        { "out (a quote in the path)", { set("out", path("Ann's run")) } },
        { "val_dir", { set("val_dir", path("val")) } },
        { "test_dir", { set("test_dir", path("test")) } },
        { "follow_symlinks off", { set("follow_symlinks", QStringLiteral("false")) } },
        { "corrections off", { set("corrections", QStringLiteral("false")) } },
        { "model", { set("model", QStringLiteral("resnet8")) } },
        { "input_size", { set("input_size", QStringLiteral("48")) } },
        { "channels", { set("channels", QStringLiteral("3")) } },
        { "resnet_stem",
            { set("resnet_stem", QStringLiteral("imagenet")),
                set("model", QStringLiteral("resnet18")) } },
        { "batch_size", { set("batch_size", QStringLiteral("17")) } },
        { "batch_size_auto", { set("batch_size_auto", QStringLiteral("true")) } },
        { "micro_batch", { set("micro_batch", QStringLiteral("4")) } },
        { "memory_budget_bytes", { set("memory_budget_bytes", QStringLiteral("2147483648")) } },
        { "memory_margin", { set("memory_margin", QStringLiteral("0.25")) } },
        { "max_batch_size", { set("max_batch_size", QStringLiteral("512")) } },
        { "epochs", { set("epochs", QStringLiteral("7")) } },
        { "lr", { set("lr", QStringLiteral("0.0123")) } },
        { "lr in exponent form", { set("lr", QStringLiteral("1.5e-05")) } },
        { "optimizer adam keeps its lr", { set("optimizer", QStringLiteral("adam")) } },
        { "optimizer adam at its usual lr",
            { set("optimizer", QStringLiteral("adam")), set("lr", QStringLiteral("0.001")) } },
        { "lr_schedule", { set("lr_schedule", QStringLiteral("constant")) } },
        { "momentum", { set("momentum", QStringLiteral("0.8")) } },
        { "weight_decay", { set("weight_decay", QStringLiteral("0.002")) } },
        { "device", { set("device", QStringLiteral("cpu")) } },
        { "workers", { set("workers", QStringLiteral("3")) } },
        { "threads", { set("threads", QStringLiteral("2")) } },
        { "queue_depth", { set("queue_depth", QStringLiteral("8")) } },
        { "val_split", { set("val_split", QStringLiteral("0.2")) } },
        { "seed above 2^31 survives", { set("seed", QStringLiteral("18446744073709551557")) } },
        { "seed 2^31", { set("seed", QStringLiteral("2147483648")) } },
        { "prune", { set("prune", QStringLiteral("polynomial:0.25:0.75:10:90:2:5")) } },
        { "prune constant to the end", { set("prune", QStringLiteral("constant:0.6:0:-1:25")) } },
        { "prune_granularity", { set("prune_granularity", QStringLiteral("channel")) } },
        { "prune_scope", { set("prune_scope", QStringLiteral("layer")) } },
        { "prune_scope sensitivity (the starting run's scan)",
            { set("prune_scope", QStringLiteral("sensitivity")) } },
        { "prune_scope sensitivity:FILE (a space in the path)",
            { set("prune_scope",
                QStringLiteral("sensitivity:") + path("scans/sensitivity scan.json")) } },
        { "augment", { set("augment", QStringLiteral("true")) } },
        { "fp16 Run again stays fp16", { set("precision", QStringLiteral("fp16")) } },
        { "precision bf16", { set("precision", QStringLiteral("bf16")) } },
        { "memory_format", { set("memory_format", QStringLiteral("channels-last")) } },
        { "memory_format contiguous", { set("memory_format", QStringLiteral("contiguous")) } },
        { "cache", { set("cache", QStringLiteral("true")) } },
        { "cache_dir", { set("cache_dir", path("cache")) } },
        { "norm_mean", { set("norm_mean", QStringLiteral("0.1307")) } },
        { "norm_std", { set("norm_std", QStringLiteral("0.3081")) } },
        // Starting weights
        { "init", { set("init", path("weights.pth")) } },
        { "freeze_epochs", { set("freeze_epochs", QStringLiteral("2")) } },
        { "backbone_lr_scale", { set("backbone_lr_scale", QStringLiteral("0.1")) } },
        // Data parallel
        { "nproc", { set("nproc", QStringLiteral("2")) } },
        { "dist_timeout", { set("dist_timeout", QStringLiteral("15")) } },
        { "dist_backend", { set("dist_backend", QStringLiteral("gloo")) } },
    };
}

// LINE split into words as a POSIX shell does for what runCommandLine() writes: blanks between
// words, single quotes (with '\'' for a quote inside), backslash escapes. std::nullopt for an open
// quote.
std::optional<QStringList> shellWords(const QString &line)
{
    QStringList words;
    QString word;
    bool inWord = false;
    for (qsizetype i = 0; i < line.size(); ++i) {
        const QChar c = line[i];
        if (c == QLatin1Char('\'')) {
            const qsizetype close = line.indexOf(QLatin1Char('\''), i + 1);
            if (close < 0)
                return std::nullopt;
            word += line.mid(i + 1, close - i - 1);
            i = close;
            inWord = true;
        } else if (c == QLatin1Char('\\') && i + 1 < line.size()) {
            word += line[++i];
            inWord = true;
        } else if (c == QLatin1Char(' ') || c == QLatin1Char('\t') || c == QLatin1Char('\n')) {
            if (inWord)
                words << word;
            word.clear();
            inWord = false;
        } else {
            word += c;
            inWord = true;
        }
    }
    if (inWord)
        words << word;
    return words;
}

QByteArray jsonText(const QJsonObject &o)
{
    return QJsonDocument(o).toJson(QJsonDocument::Indented);
}

} // namespace

class TestRunConfigRoundTrip : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;

    // A configuration the dialog has no error for.
    RunConfig base() const
    {
        RunConfig c;
        c.dataDir = m_dir.filePath(QStringLiteral("data"));
        c.outDir = m_dir.filePath(QStringLiteral("runs/new"));
        return c;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        qputenv("XDG_CONFIG_HOME", m_dir.filePath(QStringLiteral("config")).toUtf8());
        qputenv("LEANTUNE_DATA_DIR", m_dir.filePath(QStringLiteral("userdata")).toUtf8());
        for (const char *name : { "data", "training data", "val", "test", "cache" })
            QVERIFY(QDir(m_dir.path()).mkpath(QLatin1String(name)));
        RunConfigDialog dialog;
        dialog.setConfig(base());
        QVERIFY2(dialog.canStart(), qPrintable(dialog.errorText()));
    }

    // The table has a row for every field that is an option, and only the derived fields have none.
    void everyFieldHasARow()
    {
        QSet<QString> withRow, options, derived;
        for (const Row &row : rows(m_dir.path()))
            withRow << row.fields.first().section(QLatin1Char('='), 0, 0);
        for (const RunField &f : runFields()) {
            QVERIFY2(f.flag.isEmpty() || (f.scopes & RunField::Train), qPrintable(f.key));
            (f.flag.isEmpty() ? derived : options) << f.key;
        }
        QCOMPARE(withRow, options);
        QCOMPARE(derived, QSet<QString> { QStringLiteral("classes") });
    }

    void roundTrip_data()
    {
        QTest::addColumn<QStringList>("fields");
        for (const Row &row : rows(m_dir.path()))
            QTest::newRow(row.name) << row.fields;
    }

    void roundTrip()
    {
        QFETCH(QStringList, fields);
        RunConfig original = base();
        for (const QString &assignment : fields) {
            const QString key = assignment.section(QLatin1Char('='), 0, 0);
            const QString value = assignment.section(QLatin1Char('='), 1);
            const RunField *f = findRunField(key);
            QVERIFY2(f, qPrintable(key));
            QString error;
            QVERIFY2(
                f->set(original, value, &error), qPrintable(key + QStringLiteral(": ") + error));
            QCOMPARE(f->get(original), value);
            QVERIFY2(
                value != f->get(base()), qPrintable(key + QStringLiteral(" is at its default")));
        }
        const QJsonObject json = original.toJson();

        // config.json, as "Run again" reads it.
        QString error;
        const std::optional<RunConfig> read = RunConfig::fromJson(json, &error);
        QVERIFY2(read, qPrintable(error));
        QCOMPARE(jsonText(read->toJson()), jsonText(json));

        // The dialog shows it and gives it back unchanged.
        RunConfigDialog dialog;
        dialog.setConfig(*read);
        const RunConfig shown = dialog.config();
        QCOMPARE(jsonText(shown.toJson()), jsonText(json));
        auto *startFrom = dialog.findChild<StartFromField *>(QStringLiteral("init"));
        QVERIFY2(startFrom, "the dialog has no StartFromField bound to init");
        QCOMPARE(startFrom->path(), read->initWeights);
        // nproc goes through the device field's process count (DeviceField), not around it.
        const auto *processes = dialog.findChild<QSpinBox *>(QStringLiteral("nproc"));
        QVERIFY(processes);
        QCOMPARE(processes->value(), read->nproc);

        // "Copy as command line".
        QGuiApplication::clipboard()->clear();
        auto *copy = dialog.findChild<QPushButton *>(QStringLiteral("copyCommandLine"));
        QVERIFY(copy);
        copy->click();
        QString line = QGuiApplication::clipboard()->text();
        if (line.isEmpty()) { // a platform without a clipboard
            qWarning("no clipboard: the command line is taken from RunConfigDialog::commandLine()");
            line = RunConfigDialog::commandLine(shown);
        }
        QCOMPARE(line, RunConfigDialog::commandLine(shown));

        // The shell's words, parsed as `leantune-cli train` parses them.
        const std::optional<QStringList> words = shellWords(line);
        QVERIFY2(words, qPrintable(line));
        QVERIFY2(words->size() >= 2 && words->at(0) == QLatin1String("leantune-cli")
                && words->at(1) == QLatin1String("train"),
            qPrintable(line));
        QCommandLineParser parser;
        addRunOptions(parser, RunField::Train);
        QStringList args = words->mid(2);
        args.prepend(QStringLiteral("leantune-cli"));
        QVERIFY2(
            parser.parse(args), qPrintable(parser.errorText() + QStringLiteral(" in ") + line));
        QVERIFY2(parser.positionalArguments().isEmpty(), qPrintable(line));
        RunConfig parsed;
        QVERIFY2(applyRunOptions(parser, RunField::Train, parsed, false, nullptr, &error),
            qPrintable(error));
        QCOMPARE(jsonText(parsed.toJson()), jsonText(json));
    }

    // A row's range refuses a value outside it alike from config.json, the command line and the
    // dialog (shown from a run, or typed: a spin box ends at the row's maximum).
    void rangesRefuseValuesOutsideThem_data()
    {
        QTest::addColumn<QString>("key");
        QTest::addColumn<QString>("value");
        for (const RunField &f : runFields()) {
            if (!f.hasRange())
                continue;
            const double step = f.type == RunField::Type::Double ? 0.5 : 1.0;
            if (f.min > -std::numeric_limits<double>::infinity()) {
                const double below = f.minOpen ? f.min : f.min - step;
                QTest::addRow("%s below", qPrintable(f.key)) << f.key << QString::number(below);
            }
            if (f.max < std::numeric_limits<double>::infinity()) {
                const double above = f.maxOpen ? f.max : f.max + step;
                QTest::addRow("%s above", qPrintable(f.key)) << f.key << QString::number(above);
            }
        }
    }

    void rangesRefuseValuesOutsideThem()
    {
        QFETCH(QString, key);
        QFETCH(QString, value);
        const RunField *f = findRunField(key);
        QVERIFY(!f->inRange(value.toDouble()));
        const QString got = QStringLiteral("got ") + value;

        // config.json: it loads (the type is right) and does not validate.
        QJsonObject json = base().toJson();
        json[key] = value.toDouble();
        QString error;
        const std::optional<RunConfig> read = RunConfig::fromJson(json, &error);
        QVERIFY2(read, qPrintable(error));
        QVERIFY(!read->validate(&error));
        QVERIFY2(error.contains(got), qPrintable(error));

        // The command line.
        QCommandLineParser parser;
        addRunOptions(parser, RunField::Train);
        QVERIFY2(
            parser.parse({ QStringLiteral("leantune-cli"), QStringLiteral("--data"), base().dataDir,
                QStringLiteral("--out"), base().outDir, QStringLiteral("--") + f->flag, value }),
            qPrintable(parser.errorText()));
        RunConfig parsed;
        QVERIFY2(applyRunOptions(parser, RunField::Train, parsed, false, nullptr, &error),
            qPrintable(error));
        QVERIFY(!parsed.validate(&error));
        QVERIFY2(error.contains(got), qPrintable(error));

        // The dialog, shown the run: Start stays off and the error says why.
        RunConfigDialog dialog;
        dialog.setConfig(*read);
        QVERIFY(!dialog.canStart());
        QVERIFY2(dialog.errorText().contains(got), qPrintable(dialog.errorText()));
        // Typed into the field's spin box: it cannot hold the value, or the error says why.
        dialog.setConfig(base());
        QVERIFY2(dialog.canStart(), qPrintable(dialog.errorText()));
        if (auto *box = dialog.findChild<QSpinBox *>(key)) {
            if (f->max < std::numeric_limits<double>::infinity())
                QCOMPARE(double(box->maximum()), f->max);
            box->setValue(value.toInt());
            if (box->value() == value.toInt())
                QVERIFY2(dialog.errorText().contains(got), qPrintable(dialog.errorText()));
            else
                QVERIFY(value.toInt() < box->minimum() || value.toInt() > box->maximum());
        } else if (auto *box = dialog.findChild<QDoubleSpinBox *>(key)) {
            if (f->max < std::numeric_limits<double>::infinity())
                QCOMPARE(box->maximum(), f->max);
            box->setValue(value.toDouble());
            if (box->value() == value.toDouble())
                QVERIFY2(dialog.errorText().contains(got), qPrintable(dialog.errorText()));
            else
                QVERIFY(value.toDouble() < box->minimum() || value.toDouble() > box->maximum());
        }
    }

    // The dialog reads init from its StartFromField (not from the configuration it was given).
    void initGoesThroughStartFromField()
    {
        RunConfigDialog dialog;
        dialog.setConfig(base());
        auto *startFrom = dialog.findChild<StartFromField *>(QStringLiteral("init"));
        QVERIFY(startFrom);
        const QString weights = m_dir.filePath(QStringLiteral("weights.pth"));
        startFrom->setPath(weights);
        QCOMPARE(dialog.config().initWeights, weights);
        QVERIFY(RunConfigDialog::commandLine(dialog.config()).contains(QLatin1String("--init")));
        startFrom->setPath(QString());
        QCOMPARE(dialog.config().initWeights, QString());
    }

    // The scope "sensitivity" takes its scan from a file row that only it shows: its label names
    // it, and the file typed there is the FILE of sensitivity:FILE.
    void sensitivityScopeTakesAScanFile()
    {
        RunConfigDialog dialog;
        dialog.setConfig(base());
        dialog.show();
        auto *scope = dialog.findChild<PruneScopeField *>(QStringLiteral("prune_scope"));
        QVERIFY(scope);
        QComboBox *box = scope->comboBox();
        const int item = box->findData(QStringLiteral("sensitivity"));
        QVERIFY(item >= 0);
        QCOMPARE(box->itemText(item),
            QStringLiteral("Each layer its own target from a sensitivity scan"));
        QVERIFY(!scope->fileEdit()->isVisible());
        box->setCurrentIndex(item);
        QVERIFY(scope->fileEdit()->isVisible());
        QCOMPARE(dialog.config().pruneScope, PruneScope::Sensitivity);
        QCOMPARE(dialog.config().pruneSensitivityFile, QString());
        const QString scan = m_dir.filePath(QStringLiteral("scan.json"));
        scope->fileEdit()->setText(scan);
        QCOMPARE(dialog.config().pruneSensitivityFile, scan);
        QVERIFY(RunConfigDialog::commandLine(dialog.config())
                    .contains(QStringLiteral("--prune-scope sensitivity:") + scan));
        box->setCurrentIndex(box->findData(QStringLiteral("global")));
        QVERIFY(!scope->fileEdit()->isVisible());
        QCOMPARE(dialog.config().pruneScope, PruneScope::Global);
        QCOMPARE(dialog.config().pruneSensitivityFile, QString());
    }

    void shellWordsAsAShellSplits()
    {
        QCOMPARE(*shellWords(QStringLiteral("a 'b c' 'Ann'\\''s' d\\ e ''")),
            (QStringList { QStringLiteral("a"), QStringLiteral("b c"), QStringLiteral("Ann's"),
                QStringLiteral("d e"), QString() }));
        QVERIFY(!shellWords(QStringLiteral("'open")));
    }
};

QTEST_MAIN(TestRunConfigRoundTrip)
#include "tst_runconfigroundtrip.moc"
