#include "widgets/dialogs/startfromfield.h"

#include "widgets/dialogs/runfieldbinder.h"
#include "widgets/dialogs/wrappedlabel.h"
#include "model/modelspec.h"
#include "config/runfields.h"

#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QPushButton>
#include <QSpinBox>
#include <QToolButton>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <cmath>
#include <utility>

namespace leantune {

namespace {

bool near(const std::vector<double> &a, const std::vector<double> &b)
{
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::abs(a[i] - b[i]) > 1e-6)
            return false;
    return true;
}

bool isImageNet(const WeightInfo &w)
{
    return near(w.normMean, { 0.485, 0.456, 0.406 }) && near(w.normStd, { 0.229, 0.224, 0.225 });
}

// Whether resnet18 weights of INPUT_SIZE have the ImageNet stem (kResNet18ImageNetStemFrom).
// inspectWeights() recognizes files at 224 px, so a recognized resnet18 file (size 0) has it; a
// LeanTune run has the stem of the size it trained at (older runs: the stem's Auto rule).
bool imageNetStem(int inputSize)
{
    return inputSize == 0 || inputSize >= kResNet18ImageNetStemFrom;
}

} // namespace

StartFromField::StartFromField(QWidget *parent)
    : QGroupBox(tr("Starting weights"), parent)
{
    auto *form = new QFormLayout(this);
    m_choice = new QComboBox(this);
    m_choice->setObjectName(QStringLiteral("startFromChoice"));
    m_choice->addItem(tr("Random weights"), QStringLiteral("random"));
    m_choice->addItem(tr("File or run folder..."), QStringLiteral("file"));
    m_path = new QLineEdit(this);
    m_path->setObjectName(QStringLiteral("startFromPath"));
    m_path->setPlaceholderText(tr(".pth, .safetensors or .pt file, or a run folder"));
    m_browse = new QToolButton(this);
    m_browse->setText(QStringLiteral("..."));
    m_browse->setPopupMode(QToolButton::InstantPopup);
    auto *menu = new QMenu(m_browse);
    menu->addAction(tr("Weight file..."), this, [this] { browse(false); });
    menu->addAction(tr("LeanTune run folder..."), this, [this] { browse(true); });
    m_browse->setMenu(menu);
    form->addRow(tr("Start from:"), m_choice);
    auto *row = new QHBoxLayout; // the whole width: paths are long
    row->addWidget(m_path, 1);
    row->addWidget(m_browse);
    form->addRow(row);

    m_summary = new QLabel(this);
    m_summary->setObjectName(QStringLiteral("startFromSummary"));
    m_summary->setWordWrap(true);
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_match = new QPushButton(tr("Match the run"), this);
    m_match->setObjectName(QStringLiteral("matchWeights"));
    m_match->setToolTip(tr("Set the model, channels and input size the weights were made for"));
    m_match->hide();
    auto *summaryRow = new QHBoxLayout;
    summaryRow->addWidget(m_summary, 1);
    summaryRow->addWidget(m_match, 0, Qt::AlignTop);
    form->addRow(summaryRow);

    m_normNote = new QLabel(this);
    m_normNote->setObjectName(QStringLiteral("startFromNormNote"));
    m_normNote->setWordWrap(true);
    m_normNote->hide();
    m_useNorm = new QPushButton(tr("Use the weights'"), this);
    m_useNorm->setObjectName(QStringLiteral("useWeightsNormalization"));
    m_useNorm->hide();
    auto *noteRow = new QHBoxLayout;
    noteRow->addWidget(m_normNote, 1);
    noteRow->addWidget(m_useNorm, 0, Qt::AlignTop);
    form->addRow(noteRow);

    connect(m_choice, &QComboBox::activated, this, &StartFromField::choiceActivated);
    connect(m_path, &QLineEdit::textChanged, this, &StartFromField::pathEdited);
    connect(m_path, &QLineEdit::editingFinished, this,
        [this] { m_path->setText(m_path->text().trimmed()); });
    connect(&m_watcher, &QFutureWatcher<Result>::finished, this, &StartFromField::inspectionDone);
    connect(m_match, &QPushButton::clicked, this, &StartFromField::matchRunToWeights);
    connect(m_useNorm, &QPushButton::clicked, this, &StartFromField::useWeightsNormalization);
    updateEnabled();
}

// A running inspection holds only its own copy of the path: it ends on its own.
StartFromField::~StartFromField() = default;

void StartFromField::bindFields(RunFieldBinder *binder)
{
    m_binder = binder;
    const QString help = findRunField(QStringLiteral("init"))->help;
    binder->bind(QStringLiteral("init"), this);
    setToolTip(QString()); // the field's help goes on the choice, not on the whole group
    m_choice->setToolTip(help);
    m_path->setToolTip(help);
    if (auto *model = qobject_cast<QComboBox *>(binder->widget(QStringLiteral("model"))))
        connect(model, &QComboBox::currentIndexChanged, this, &StartFromField::modelChanged);

    // After init, so that show() gives the normalization fields the configuration's values last.
    auto *form = static_cast<QFormLayout *>(layout());
    form->addRow(tr("Input mean:"), binder->bind(QStringLiteral("norm_mean"), nullptr, this));
    form->addRow(tr("Input std:"), binder->bind(QStringLiteral("norm_std"), nullptr, this));

    // Fine-tuning controls, when the field table has them.
    const RunField *freeze = findRunField(QStringLiteral("freeze_epochs"));
    const RunField *scale = findRunField(QStringLiteral("backbone_lr_scale"));
    if (!freeze && !scale)
        return;
    if (freeze) {
        QWidget *w = binder->bind(freeze->key, nullptr, this);
        if (auto *spin = qobject_cast<QSpinBox *>(w))
            spin->setSuffix(tr(" epochs"));
        form->addRow(tr("Frozen backbone:"), w);
        m_tuning << w << form->labelForField(w);
    }
    if (scale) {
        QWidget *w = binder->bind(scale->key, nullptr, this);
        if (auto *spin = qobject_cast<QDoubleSpinBox *>(w)) {
            spin->setRange(0.0, 10.0);
            spin->setSingleStep(0.1);
        }
        form->addRow(tr("Backbone lr ×:"), w); // (no prefix: NumberSpinBox parses all)
        m_tuning << w << form->labelForField(w);
    }
    updateEnabled();
}

QString StartFromField::path() const
{
    return fromFile() ? m_path->text() : QString();
}

bool StartFromField::fromFile() const
{
    return m_choice->currentData().toString() == QLatin1String("file");
}

void StartFromField::setPath(const QString &path)
{
    const QString before = this->path();
    {
        const QSignalBlocker blockChoice(m_choice);
        const QSignalBlocker blockPath(m_path);
        m_choice->setCurrentIndex(path.isEmpty() ? 0 : 1);
        if (!path.isEmpty())
            m_path->setText(path); // random weights keep the last path for the next "file"
    }
    updateEnabled();
    if (this->path() != before) {
        restoreNormalization();
        inspect();
        Q_EMIT changed();
    }
}

void StartFromField::choiceActivated(int)
{
    updateEnabled();
    if (fromFile() && m_path->text().trimmed().isEmpty()) {
        browse(false);
        if (m_path->text().isEmpty()) { // no file chosen: still random weights
            m_choice->setCurrentIndex(0);
            updateEnabled();
            return;
        }
    }
    restoreNormalization();
    inspect();
    Q_EMIT changed();
}

void StartFromField::browse(bool folder)
{
    const QString start = m_path->text();
    const QString chosen = folder
        ? QFileDialog::getExistingDirectory(this, tr("LeanTune run folder to start from"), start)
        : QFileDialog::getOpenFileName(this, tr("Weights to start from"), start,
            tr("Weights (*.pth *.pt *.safetensors *.bin);;All files (*)"));
    if (chosen.isEmpty())
        return;
    setPath(chosen);
}

void StartFromField::pathEdited()
{
    if (!fromFile())
        return;
    restoreNormalization();
    inspect();
    Q_EMIT changed();
}

void StartFromField::updateEnabled()
{
    m_path->setVisible(fromFile());
    m_browse->setVisible(fromFile());
    for (QWidget *w : std::as_const(m_tuning))
        w->setEnabled(fromFile());
}

void StartFromField::inspect()
{
    const QString p = path();
    if (p.isEmpty())
        return;
    if (m_result && m_result->path == p)
        return; // known (read again when the path changes)
    if (m_watcher.isRunning()) {
        m_restart = true;
        return;
    }
    m_result.reset();
    m_watcher.setFuture(QtConcurrent::run([p] {
        Result r;
        r.path = p;
        r.info = inspectWeights(p, &r.error);
        return r;
    }));
}

void StartFromField::inspectionDone()
{
    const Result r = m_watcher.result();
    if (m_restart || r.path != path()) {
        m_restart = false;
        if (r.path == path())
            m_result = r;
        else
            m_result.reset();
        inspect();
        if (isInspecting())
            return;
    } else {
        m_result = r;
    }
    adoptNormalization();
    Q_EMIT inspected();
}

std::optional<WeightInfo> StartFromField::info() const
{
    if (!fromFile() || isInspecting() || !m_result || m_result->path != path())
        return std::nullopt;
    return m_result->info;
}

QString StartFromField::fieldText(const char *key) const
{
    auto *edit
        = m_binder ? qobject_cast<QLineEdit *>(m_binder->widget(QLatin1String(key))) : nullptr;
    return edit ? edit->text() : QString();
}

void StartFromField::setFieldText(const char *key, const QString &text)
{
    if (auto *edit
        = m_binder ? qobject_cast<QLineEdit *>(m_binder->widget(QLatin1String(key))) : nullptr)
        edit->setText(text);
}

void StartFromField::adoptNormalization()
{
    const std::optional<WeightInfo> w = info();
    if (!w || w->normMean.empty() || !m_binder || m_binder->isShowing())
        return;
    const auto fits = [this](const std::vector<double> &v) {
        return v.size() == 1 || m_channels == 0 || int(v.size()) == m_channels;
    };
    const QString mean = fieldText("norm_mean"), std = fieldText("norm_std");
    if (mean != findRunField(QStringLiteral("norm_mean"))->defaultText()
        || std != findRunField(QStringLiteral("norm_std"))->defaultText() || !fits(w->normMean)
        || !fits(w->normStd))
        return; // the run has its own: the note offers the weights'
    m_normBefore = std::pair(mean, std);
    m_normAdopted = std::pair(numberList(w->normMean), numberList(w->normStd));
    setFieldText("norm_mean", m_normAdopted.first);
    setFieldText("norm_std", m_normAdopted.second);
}

void StartFromField::restoreNormalization()
{
    if (!m_normBefore)
        return;
    if (std::pair(fieldText("norm_mean"), fieldText("norm_std")) == m_normAdopted) {
        setFieldText("norm_mean", m_normBefore->first);
        setFieldText("norm_std", m_normBefore->second);
    }
    m_normBefore.reset();
}

void StartFromField::useWeightsNormalization()
{
    const std::optional<WeightInfo> w = info();
    if (!w || w->normMean.empty())
        return;
    m_normBefore.reset(); // the user's choice: kept when the weights go
    setFieldText("norm_mean", numberList(w->normMean));
    setFieldText("norm_std", numberList(w->normStd));
}

void StartFromField::matchRunToWeights()
{
    const std::optional<WeightInfo> w = info();
    if (!w || w->architecture.isEmpty() || !m_binder)
        return;
    auto *size = qobject_cast<QSpinBox *>(m_binder->widget(QStringLiteral("input_size")));
    Matched matched { fieldData("model"), size ? size->value() : 0, fieldData("channels"), 0, {} };
    m_matching = true;
    const auto choose = [this](const char *key, const QString &value) {
        auto *box = qobject_cast<QComboBox *>(m_binder->widget(QLatin1String(key)));
        if (!box)
            return;
        if (box->findData(value) < 0)
            box->addItem(value, value);
        box->setCurrentIndex(box->findData(value));
    };
    choose("model", w->architecture);
    if (w->channels > 0)
        choose("channels", QString::number(w->channels));
    // A LeanTune run's size; torchvision's resnet18 builds its ImageNet stem at any size.
    if (size && w->inputSize > 0)
        size->setValue(w->inputSize);
    m_matching = false;
    adoptNormalization(); // the channels may fit the weights' normalization now
    matched.setSize = size ? size->value() : 0;
    matched.setChannels = fieldData("channels");
    if (matched.model != fieldData("model"))
        m_matched = matched;
}

void StartFromField::modelChanged()
{
    if (m_matching)
        return;
    const std::optional<Matched> matched = std::exchange(m_matched, std::nullopt);
    if (!matched || m_binder->isShowing() || fieldData("model") != matched->model)
        return;
    // The model "Match the run" replaced is back: so are its size and channels, where the user
    // has not set them since.
    auto *size = qobject_cast<QSpinBox *>(m_binder->widget(QStringLiteral("input_size")));
    if (size && size->value() == matched->setSize)
        size->setValue(matched->inputSize);
    auto *channels = qobject_cast<QComboBox *>(m_binder->widget(QStringLiteral("channels")));
    if (channels && fieldData("channels") == matched->setChannels)
        channels->setCurrentIndex(channels->findData(matched->channels));
}

QString StartFromField::fieldData(const char *key) const
{
    const auto *box = qobject_cast<QComboBox *>(m_binder->widget(QLatin1String(key)));
    return box ? box->currentData().toString() : QString();
}

QString StartFromField::describe(const WeightInfo &w, int classes)
{
    QStringList parts;
    parts << w.format;
    parts << (w.architecture.isEmpty() ? tr("no LeanTune model fits") : w.architecture);
    parts
        << tr("%1 tensors (%2 M values)").arg(w.tensors).arg(double(w.parameters) / 1e6, 0, 'f', 2);
    if (w.channels > 0)
        parts << (w.channels == 1 ? tr("1 input channel")
                                  : tr("%1 input channels").arg(w.channels));
    if (w.inputSize > 0)
        parts << tr("trained at %1 px").arg(w.inputSize);
    if (w.classes > 0) {
        if (classes > 0 && classes != w.classes)
            parts << tr("%1 classes").arg(w.classes)
                    + tr(" → classifier replaced for %1").arg(classes);
        else
            parts << tr("%1 classes").arg(w.classes);
    }
    if (isImageNet(w))
        parts << tr("ImageNet normalization");
    else if (!w.normMean.empty())
        parts << tr("normalization mean %1, std %2")
                     .arg(numberList(w.normMean), numberList(w.normStd));
    return parts.join(QStringLiteral(" · "));
}

QString StartFromField::summaryText() const
{
    return m_summary->text();
}

QString StartFromField::normalizationNote() const
{
    return m_normNote->isHidden() ? QString() : m_normNote->text();
}

QString StartFromField::check(const RunConfig &c, int classes)
{
    m_channels = c.model.channels;
    QString error, summary, note;
    bool matchable = false;
    const std::optional<WeightInfo> w = info();
    if (!fromFile()) {
        summary = tr("The model starts from its own random initialization.");
    } else if (path().trimmed().isEmpty()) {
        error = tr("choose the starting weights (a file or a run folder), or start from random "
                   "weights");
    } else if (!w && (isInspecting() || !m_result || m_result->path != path())) {
        summary = tr("Reading %1 ...").arg(QFileInfo(path()).fileName());
        error = tr("reading the starting weights ...");
    } else if (!w) {
        summary = tr("Not recognized as weights LeanTune can start from.");
        error = tr("starting weights: %1").arg(m_result->error);
    } else {
        summary = tr("Recognized: %1").arg(describe(*w, classes));
        const QString name = QFileInfo(path()).fileName();
        matchable = !w->architecture.isEmpty();
        // A user's TorchScript model may have any parameter names (a scripted torchvision model
        // takes torchvision's weights): only loading it at Start can tell.
        const bool scripted = c.model.name.startsWith(QLatin1String("torchscript:"))
            && w->architecture != c.model.name;
        if (scripted)
            summary += tr(" (whether they fit the TorchScript model is checked at Start)");
        if (scripted && w->channels > 0 && w->channels != c.model.channels)
            error = tr("the starting weights %1 take %2-channel input, the run %3-channel input: "
                       "set Channels to %2")
                        .arg(name)
                        .arg(w->channels)
                        .arg(c.model.channels);
        else if (scripted)
            matchable = false;
        else if (w->architecture.isEmpty())
            error = tr("the starting weights %1 fit none of LeanTune's models (%2)")
                        .arg(name, modelNames().join(QStringLiteral(", ")));
        else if (w->architecture != c.model.name)
            error = tr("the starting weights %1 are a %2, the run's model is %3: choose %2")
                        .arg(name, w->architecture, c.model.name);
        else if (w->channels > 0 && w->channels != c.model.channels)
            error = tr("the starting weights %1 take %2-channel input, the run %3-channel input: "
                       "set Channels to %2")
                        .arg(name)
                        .arg(w->channels)
                        .arg(c.model.channels);
        else if (w->architecture == QLatin1String("resnet18") && c.model.stem != ResNetStem::Auto
            && (c.model.stem == ResNetStem::ImageNet) != imageNetStem(w->inputSize))
            error = tr("the starting weights %1 have resnet18's %2 stem, the run asks for the "
                       "other: set the ResNet stem to auto or %2")
                        .arg(name,
                            imageNetStem(w->inputSize) ? QStringLiteral("imagenet")
                                                       : QStringLiteral("small"));
        else
            matchable = false;
        const auto fits = [&c](const std::vector<double> &v) {
            return v.size() == 1 || int(v.size()) == c.model.channels;
        };
        if (!w->normMean.empty() && fits(w->normMean) && fits(w->normStd)) {
            const QString theirs = isImageNet(*w) ? tr("ImageNet's") : tr("the weights'");
            if (near(c.normMean, w->normMean) && near(c.normStd, w->normStd))
                note = m_normBefore
                    ? tr("Input mean and std set to %1 normalization, which the weights were "
                         "trained with.")
                          .arg(theirs)
                    : tr("The run uses %1 normalization, as the weights.").arg(theirs);
            else
                note = tr("The run keeps its own normalization; the weights were trained with %1 "
                          "(mean %2, std %3).")
                           .arg(theirs, numberList(w->normMean), numberList(w->normStd));
        }
    }
    m_summary->setText(summary);
    m_summary->setVisible(!summary.isEmpty());
    m_match->setVisible(matchable);
    m_normNote->setText(note);
    m_normNote->setVisible(!note.isEmpty());
    m_useNorm->setVisible(
        !note.isEmpty() && w && !(near(c.normMean, w->normMean) && near(c.normStd, w->normStd)));
    reserveWrappedLines(m_summary);
    reserveWrappedLines(m_normNote);
    return error;
}

} // namespace leantune
